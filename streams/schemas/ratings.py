"""The ``ratings`` topic (key = user_id): one rating set or retracted per event.

Wire form (JSON object)::

    {"user_id": str, "item_id": str, "rating": number, "ts": epoch seconds | ISO-8601,
     "op": "upsert" | "delete", "event_id": str | null}

``ts`` is in seconds: a value that looks like milliseconds is refused with a reason of
its own, and so is one more than ``max_future_s`` after the record was produced.

``rating`` is required for upserts and ignored for deletes. A later upsert of the
same (user, item) replaces the earlier rating; a delete retracts it. Unknown fields
are ignored so that producers can add fields before consumers know them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from streams.schemas import fields
from streams.schemas.errors import InvalidEvent, Reason, shown
from streams.settings import EventLimits

Op = Literal["upsert", "delete"]
OPS: tuple[Op, ...] = ("upsert", "delete")


@dataclass(frozen=True, slots=True)
class RatingEvent:
    user_id: str
    item_id: str
    rating: float | None
    ts: float
    op: Op = "upsert"
    event_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "user_id": self.user_id,
            "item_id": self.item_id,
            "ts": self.ts,
            "op": self.op,
        }
        if self.rating is not None:
            body["rating"] = self.rating
        if self.event_id is not None:
            body["event_id"] = self.event_id
        return body

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @property
    def key(self) -> bytes:
        """Kafka record key: all events of a user land in one partition, in order."""
        return self.user_id.encode()


def parse_rating(
    raw: bytes | str | dict[str, Any] | None,
    limits: EventLimits,
    received_at: float | None = None,
) -> RatingEvent:
    """Validate one event; raises :class:`InvalidEvent` with the first problem found, and
    nothing else, whatever ``raw`` is. ``received_at`` (epoch seconds: the Kafka record's
    timestamp, or now for HTTP) bounds how far ``ts`` may lie in the future."""
    data = fields.decode_object(raw, limits.max_event_bytes)
    user_id = fields.identifier(data, "user_id", limits.max_id_length)
    item_id = fields.identifier(data, "item_id", limits.max_id_length)
    op = data.get("op", "upsert")
    if op is None:
        op = "upsert"
    if op not in OPS:
        raise InvalidEvent(Reason.UNKNOWN_OP, f"op must be one of {list(OPS)}, got {shown(op)}")
    rating: float | None = None
    if op == "upsert":
        rating = fields.finite_number(data, "rating")
        if not limits.rating_min <= rating <= limits.rating_max:
            raise InvalidEvent(
                Reason.RATING_OUT_OF_RANGE,
                f"rating {rating} outside [{limits.rating_min}, {limits.rating_max}]",
            )
    ts = fields.timestamp(data, "ts", received_at, limits.max_future_s)
    event_id = fields.optional_string(data, "event_id", limits.max_id_length)
    return RatingEvent(user_id, item_id, rating, ts, op, event_id)


def check_key(key: bytes | None, event: RatingEvent) -> RatingEvent:
    """The record key must be the user id: the user-keyed paths rely on a user's events
    arriving in order in one partition, which only the key guarantees."""
    if key != event.key:
        got = "no key" if key is None else f"key {shown(key)}"
        raise InvalidEvent(
            Reason.KEY_MISMATCH, f"{got}; the key of a rating must be its user_id (UTF-8)"
        )
    return event
