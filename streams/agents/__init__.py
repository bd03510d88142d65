"""Faust agents: thin wiring from topics to the schemas, the math and the storage module."""
