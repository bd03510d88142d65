"""Rating events from CSV, TSV or JSONL files, with a configurable column mapping."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.schemas.errors import InvalidEvent
from streams.schemas.ratings import RatingEvent, parse_rating
from streams.settings import EventLimits


@dataclass(frozen=True)
class ColumnMap:
    user: str = "user_id"
    item: str = "item_id"
    rating: str = "rating"
    ts: str = "ts"
    op: str = "op"
    event_id: str = "event_id"

    def to_event_dict(self, row: dict[str, Any]) -> dict[str, Any]:
        out = {
            "user_id": row.get(self.user),
            "item_id": row.get(self.item),
            "rating": _number(row.get(self.rating)),
            "ts": _number(row.get(self.ts)),
        }
        if row.get(self.op):
            out["op"] = row[self.op]
        if row.get(self.event_id):
            out["event_id"] = row[self.event_id]
        return out


def _number(value: Any) -> Any:
    """CSV cells are text: turn numeric text into numbers, leave the rest for validation."""
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else None
        except ValueError:
            return value
    return value


def read_rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)
        return
    delimiter = {"csv": ",", "tsv": "\t"}[fmt]
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle, delimiter=delimiter)


def load_file(
    path: Path, fmt: str, columns: ColumnMap, limits: EventLimits
) -> tuple[list[RatingEvent], list[tuple[int, InvalidEvent]]]:
    """Valid events in timestamp order, and (row number, error) for every rejected row."""
    events: list[RatingEvent] = []
    rejected: list[tuple[int, InvalidEvent]] = []
    for number, row in enumerate(read_rows(path, fmt), start=1):
        try:
            events.append(parse_rating(columns.to_event_dict(row), limits))
        except InvalidEvent as exc:
            rejected.append((number, exc))
    events.sort(key=lambda e: e.ts)
    return events, rejected


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv", "jsonl"):
        return suffix
    if suffix in ("json", "ndjson"):
        return "jsonl"
    raise ValueError(f"cannot tell the format of {path.name}; pass --format csv|tsv|jsonl")
