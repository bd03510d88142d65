"""The thin reader: serves what the stream computed. Never imports Faust."""
