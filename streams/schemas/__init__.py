"""One module per topic schema. Pure Python: shared by the worker and the reader."""

from streams.schemas.errors import InvalidEvent, Reason

__all__ = ["InvalidEvent", "Reason"]
