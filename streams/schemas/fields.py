"""Field checks shared by the topic schemas, each failing with a precise reason.

Every check here is total: whatever the input, it returns a valid value or raises
:class:`InvalidEvent` (never ``TypeError``, ``OverflowError``, ``RecursionError`` or a
``UnicodeEncodeError`` later, deep inside an agent), so one bad record can be
dead-lettered without stopping a path.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from streams.schemas.errors import InvalidEvent, Reason, shown

# Seconds since the epoch are below 1e11 until the year 5138; milliseconds are above it
# since 1973. A Java or JavaScript client sending Date.now() is the usual mistake.
MILLISECONDS_FROM = 1e11

# A JSON escape that can decode to a lone surrogate (\ud800-\udfff): cheap to look for,
# so only records that have one pay for the full scan.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise InvalidEvent(Reason.NOT_FINITE, f"{name} is not a finite number")


def decode_object(raw: bytes | str | dict[str, Any] | None, max_bytes: int) -> dict[str, Any]:
    """JSON bytes or text (or an already decoded dict) to a dict of valid Unicode text.

    Refused: a null value (a tombstone), more than ``max_bytes``, NaN and Infinity,
    nesting beyond what the parser can hold, and lone surrogates (``"\\ud800"``), which
    JSON allows but UTF-8, Redis keys and every later ``encode()`` do not."""
    if raw is None:
        raise InvalidEvent(Reason.NULL_VALUE, "the record has no value (a null or a tombstone)")
    if isinstance(raw, dict):
        value: Any = raw
    elif isinstance(raw, bytes | bytearray | str):
        data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
        if len(data) > max_bytes:
            raise InvalidEvent(
                Reason.TOO_LARGE, f"the value has {len(data)} bytes, at most {max_bytes} allowed"
            )
        try:
            value = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
        except InvalidEvent:
            raise
        except RecursionError:
            raise InvalidEvent(Reason.TOO_DEEP, "the JSON is nested too deeply") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidEvent(Reason.NOT_JSON, f"value is not UTF-8 JSON ({exc})") from None
        if not _SURROGATE_ESCAPE.search(data):
            value = _checked_object(value)
            return value
    else:
        raise InvalidEvent(Reason.NOT_JSON, f"value is a {type(raw).__name__}, not JSON")
    value = _checked_object(value)
    _refuse_lone_surrogates(value)
    return value


def _checked_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidEvent(Reason.NOT_OBJECT, f"expected a JSON object, got {type(value).__name__}")
    return value


def _refuse_lone_surrogates(value: Any) -> None:
    """Walk keys and strings without recursion (the nesting may be deep)."""
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidEvent(
                    Reason.BAD_TEXT, f"text {shown(node)} has a lone surrogate, not valid Unicode"
                ) from None


def require(data: dict[str, Any], name: str) -> Any:
    if name not in data or data[name] is None:
        raise InvalidEvent(Reason.MISSING_FIELD, f"field {name!r} is required")
    return data[name]


def text(value: Any, name: str) -> str:
    """A string that UTF-8 can carry (no lone surrogates), for ids, titles and tags."""
    if not isinstance(value, str):
        raise InvalidEvent(
            Reason.WRONG_TYPE, f"{name} must be a string, got {type(value).__name__}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(
            Reason.BAD_TEXT, f"{name} {shown(value)} has a lone surrogate, not valid Unicode"
        ) from None
    return value


def identifier(data: dict[str, Any], name: str, max_length: int) -> str:
    """A non-empty string id of at most ``max_length`` characters (any valid Unicode)."""
    value = text(require(data, name), name)
    if not value.strip():
        raise InvalidEvent(Reason.EMPTY_ID, f"{name} is empty")
    if len(value) > max_length:
        raise InvalidEvent(
            Reason.ID_TOO_LONG, f"{name} has {len(value)} characters, at most {max_length} allowed"
        )
    return value


def finite_number(data: dict[str, Any], name: str) -> float:
    value = require(data, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent(
            Reason.WRONG_TYPE, f"{name} must be a number, got {type(value).__name__}"
        )
    try:
        number = float(value)
    except OverflowError:  # an integer of 310+ digits
        raise InvalidEvent(Reason.NOT_FINITE, f"{name} is too large to be a number") from None
    if not math.isfinite(number):
        raise InvalidEvent(Reason.NOT_FINITE, f"{name} is not a finite number")
    return number


def timestamp(
    data: dict[str, Any], name: str, received_at: float | None, max_future_s: float
) -> float:
    """Epoch **seconds** (number) or ISO-8601 text to epoch seconds; naive times are UTC.

    Refused with reasons of their own: milliseconds (or finer), and times more than
    ``max_future_s`` after ``received_at`` (the record's own Kafka timestamp, so every
    path that parses the record decides the same), which would otherwise lift an item
    to the top of the popular list for as long as the clock takes to catch up."""
    value = require(data, name)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = moment.timestamp()
        except (ValueError, OverflowError):
            raise InvalidEvent(
                Reason.BAD_TIMESTAMP, f"{name} {shown(value)} is neither epoch seconds nor ISO-8601"
            ) from None
        if seconds >= MILLISECONDS_FROM:
            raise InvalidEvent(Reason.BAD_TIMESTAMP, f"{name} {shown(value)} is after 5138")
    else:
        seconds = finite_number(data, name)
    if seconds < 0:
        raise InvalidEvent(Reason.BAD_TIMESTAMP, f"{name} is before 1970")
    if seconds >= MILLISECONDS_FROM:
        raise InvalidEvent(
            Reason.TIMESTAMP_IN_MILLISECONDS,
            f"{name} {shown(value)} looks like milliseconds (or finer): send seconds since "
            "the epoch, e.g. Date.now() / 1000",
        )
    if received_at is not None and seconds > received_at + max_future_s:
        raise InvalidEvent(
            Reason.TIMESTAMP_IN_FUTURE,
            f"{name} is {seconds - received_at:.0f} s after the record was produced, "
            f"at most {max_future_s:.0f} s allowed",
        )
    return seconds


def optional_string(data: dict[str, Any], name: str, max_length: int) -> str | None:
    if data.get(name) is None:
        return None
    return identifier(data, name, max_length)
