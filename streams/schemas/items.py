"""The ``items`` topic (key = item_id, compacted): catalogue metadata for titles and content.

Wire form::

    {"item_id": str, "title": str, "attributes": {"genres": [str], "year": int, "tags": [str], ...}}

Attributes are an open mapping; ``genres``, ``year`` and ``tags`` are the ones streamrec
reads. A record with a null value is a tombstone that removes the item.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from streams.schemas import fields
from streams.schemas.errors import InvalidEvent, Reason
from streams.settings import EventLimits


@dataclass(frozen=True, slots=True)
class ItemEvent:
    item_id: str
    title: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "title": self.title, "attributes": self.attributes}

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def key(self) -> bytes:
        return self.item_id.encode()


def parse_item(raw: bytes | str | dict[str, Any] | None, limits: EventLimits) -> ItemEvent:
    """Validate one catalogue record; raises only :class:`InvalidEvent` (a tombstone is
    recognised by the caller before parsing)."""
    data = fields.decode_object(raw, limits.max_event_bytes)
    item_id = fields.identifier(data, "item_id", limits.max_id_length)
    title = fields.text(data.get("title", ""), "title")
    attributes = data.get("attributes")
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise InvalidEvent(Reason.WRONG_TYPE, "attributes must be an object")
    genres = attributes.get("genres", [])
    if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
        raise InvalidEvent(Reason.WRONG_TYPE, "attributes.genres must be a list of strings")
    tags = attributes.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidEvent(Reason.WRONG_TYPE, "attributes.tags must be a list of strings")
    year = attributes.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
        raise InvalidEvent(Reason.WRONG_TYPE, "attributes.year must be an integer")
    return ItemEvent(item_id, title, attributes)
