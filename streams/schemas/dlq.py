"""The ``ratings.dlq`` topic: refused events, byte for byte, with the reason in headers.

The key and value are the original record's, unchanged, so an operator can fix the
cause and re-produce them as they were. Headers (all UTF-8)::

    streamrec.reason       machine-readable code, see streams.schemas.errors.Reason
    streamrec.detail       what exactly was wrong, for people
    streamrec.source       topic/partition/offset of the original record
    streamrec.failed_at    epoch seconds when it was refused
    streamrec.truncated    only when the value was cut: its original size in bytes

The detail is cut to ``DETAIL_BYTES`` so that headers never grow with the value, and a
value above ``VALUE_BYTES`` (possible only where the source topic allows more than the
producer's 1 MB request) is kept as its first ``VALUE_BYTES``, so the dead letter itself
always fits.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from streams.schemas.errors import InvalidEvent

REASON_HEADER = "streamrec.reason"
DETAIL_HEADER = "streamrec.detail"
SOURCE_HEADER = "streamrec.source"
FAILED_AT_HEADER = "streamrec.failed_at"
TRUNCATED_HEADER = "streamrec.truncated"
DETAIL_BYTES = 512
VALUE_BYTES = 900_000


def dead_letter_headers(
    error: InvalidEvent, topic: str, partition: int, offset: int, now: float | None = None
) -> list[tuple[str, bytes]]:
    detail = error.detail.encode("utf-8", "replace")
    if len(detail) > DETAIL_BYTES:
        detail = detail[: DETAIL_BYTES - 3] + "…".encode()
    return [
        (REASON_HEADER, error.reason.value.encode()),
        (DETAIL_HEADER, detail),
        (SOURCE_HEADER, f"{topic}/{partition}/{offset}".encode()),
        (FAILED_AT_HEADER, f"{time.time() if now is None else now:.3f}".encode()),
    ]


def dead_letter_value(
    value: bytes | None, headers: list[tuple[str, bytes]]
) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The value to dead-letter (cut to ``VALUE_BYTES`` if need be) and its headers."""
    if value is None or len(value) <= VALUE_BYTES:
        return value, headers
    return value[:VALUE_BYTES], [*headers, (TRUNCATED_HEADER, str(len(value)).encode())]


def header_map(
    headers: Mapping[str, bytes | str | None] | Iterable[tuple[str, bytes | str | None]] | None,
) -> dict[str, str]:
    """Kafka headers (pairs or a mapping, as clients return them) as a str→str dict."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or []
    return {
        str(k): (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v or ""))
        for k, v in pairs
    }
