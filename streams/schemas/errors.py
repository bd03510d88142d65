"""Why an event was refused, as a stable machine-readable code (DLQ headers, metrics, 422s)."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    EMPTY_ID = "empty_id"
    ID_TOO_LONG = "id_too_long"
    NOT_FINITE = "not_finite"
    RATING_OUT_OF_RANGE = "rating_out_of_range"
    UNKNOWN_OP = "unknown_op"
    BAD_TIMESTAMP = "bad_timestamp"


class InvalidEvent(ValueError):
    """Raised by the schema parsers; carries the reason code and a human-readable detail."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
