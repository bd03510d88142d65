"""Field checks shared by the topic schemas, each failing with a precise reason."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from streams.schemas.errors import InvalidEvent, Reason


def _reject_constant(name: str) -> Any:
    raise InvalidEvent(Reason.NOT_FINITE, f"{name} is not a finite number")


def decode_object(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """JSON bytes or text (or an already decoded dict) to a dict; NaN and Infinity refused."""
    if isinstance(raw, dict):
        return raw
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        value = json.loads(text, parse_constant=_reject_constant)
    except InvalidEvent:
        raise
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidEvent(Reason.NOT_JSON, f"value is not UTF-8 JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidEvent(Reason.NOT_OBJECT, f"expected a JSON object, got {type(value).__name__}")
    return value


def require(data: dict[str, Any], name: str) -> Any:
    if name not in data or data[name] is None:
        raise InvalidEvent(Reason.MISSING_FIELD, f"field {name!r} is required")
    return data[name]


def identifier(data: dict[str, Any], name: str, max_length: int) -> str:
    """A non-empty string id of at most ``max_length`` characters (any UTF-8)."""
    value = require(data, name)
    if not isinstance(value, str):
        raise InvalidEvent(
            Reason.WRONG_TYPE, f"{name} must be a string, got {type(value).__name__}"
        )
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
    number = float(value)
    if not math.isfinite(number):
        raise InvalidEvent(Reason.NOT_FINITE, f"{name} is not a finite number")
    return number


def timestamp(data: dict[str, Any], name: str) -> float:
    """Epoch seconds (number) or ISO-8601 text to epoch seconds; naive times are UTC."""
    value = require(data, name)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidEvent(
                Reason.BAD_TIMESTAMP, f"{name} {value!r} is neither epoch seconds nor ISO-8601"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    seconds = finite_number(data, name)
    if seconds < 0:
        raise InvalidEvent(Reason.BAD_TIMESTAMP, f"{name} is negative")
    return seconds


def optional_string(data: dict[str, Any], name: str, max_length: int) -> str | None:
    if data.get(name) is None:
        return None
    return identifier(data, name, max_length)
