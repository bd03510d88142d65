"""streamrec's stream side: event schemas, incremental math, Redis layout, Faust agents.

Kept import-light on purpose: the reader (``app``) imports ``streams.state.keys``,
``streams.schemas`` and ``streams.settings`` and must never pull in Faust.
"""

__version__ = "0.1.0"
