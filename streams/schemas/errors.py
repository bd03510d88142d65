"""Why an event was refused, as a stable machine-readable code (DLQ headers, metrics, 422s)."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    NULL_VALUE = "null_value"
    TOO_LARGE = "too_large"
    TOO_DEEP = "too_deep"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    BAD_TEXT = "bad_text"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    EMPTY_ID = "empty_id"
    ID_TOO_LONG = "id_too_long"
    NOT_FINITE = "not_finite"
    RATING_OUT_OF_RANGE = "rating_out_of_range"
    UNKNOWN_OP = "unknown_op"
    KEY_MISMATCH = "key_mismatch"
    BAD_TIMESTAMP = "bad_timestamp"
    TIMESTAMP_IN_MILLISECONDS = "timestamp_in_milliseconds"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    UNEXPECTED = "unexpected"  # a parser bug, never input's fault: dead-lettered, not crashed


class InvalidEvent(ValueError):
    """Raised by the schema parsers; carries the reason code and a human-readable detail."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def shown(value: object, limit: int = 60) -> str:
    """A value as it may appear in an error detail: its repr, cut short, so that a
    detail (a DLQ header, a log line, a 422) never echoes a whole hostile value."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"
