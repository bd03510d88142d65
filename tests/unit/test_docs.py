"""The documentation keeps up with the code: every Redis key and every setting is listed."""

from __future__ import annotations

import inspect
from pathlib import Path

from app.settings import ReaderSettings
from streams.settings import WorkerSettings
from streams.settings.loading import nested_groups
from streams.state import keys

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_key_is_in_the_documented_layout():
    layout = (DOCS / "redis-schema.md").read_text()
    placeholders = {"user_id": "<user>", "item_id": "<item>"}
    missing = []
    for name, function in inspect.getmembers(keys, inspect.isfunction):
        parameters = list(inspect.signature(function).parameters)
        if function.__module__ != keys.__name__ or not set(parameters) <= set(placeholders):
            continue
        key = function(*(placeholders[p] for p in parameters))
        if "*" not in key and f"`{key}`" not in layout:
            missing.append(f"{name}: {key}")
    assert not missing, missing


def _documented(name: str, rows: list[str]) -> bool:
    """STREAMREC_<NAME> in a row, whole or grouped: `STREAMREC_A_B` / `_C` documents A_C,
    and `STREAMREC_G__A` / `__B` documents G__B."""
    if any(f"STREAMREC_{name}" in row for row in rows):
        return True
    group, nested, rest = name.partition("__")
    if nested and any(f"STREAMREC_{group}__" in r and f"`__{rest}`" in r for r in rows):
        return True
    parts = name.split("_")
    for cut in range(1, len(parts)):
        prefix, rest = "_".join(parts[:cut]), "_".join(parts[cut:])
        if any(f"STREAMREC_{prefix}_" in row and f"`_{rest}`" in row for row in rows):
            return True
    return False


def test_every_setting_is_in_the_configuration_page():
    rows = (DOCS / "configuration.md").read_text().upper().splitlines()
    missing = [
        f"{cls.__name__}.{field}"
        for cls in (WorkerSettings, ReaderSettings)
        for field in cls.model_fields
        if not _documented(field.upper(), rows)
    ]
    missing += [
        f"{cls.__name__}.{group}.{field}"
        for cls in (WorkerSettings, ReaderSettings)
        for group, fields in nested_groups(cls).items()
        for field in sorted(fields)
        if not _documented(f"{group}__{field}".upper(), rows)
    ]
    assert not missing, missing


def test_a_setting_named_only_as_another_rows_suffix_is_not_documented():
    rows = ["| `STREAMREC_BLEND_ITEM_CF` / `_EMBEDDING` | 1 | weights |"]
    assert _documented("BLEND_EMBEDDING", rows)
    assert not _documented("EMBEDDING", rows)
