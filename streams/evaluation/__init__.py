"""Prequential evaluation (test, then learn) of streamrec and its peers."""
