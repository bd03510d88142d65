"""The documentation keeps up with the code: every Redis key and every setting is listed."""

from __future__ import annotations

import inspect
from pathlib import Path

from app.settings import ReaderSettings
from streams import keys
from streams.settings import WorkerSettings

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


def test_every_setting_is_in_the_configuration_page():
    page = (DOCS / "configuration.md").read_text().upper()
    missing = []
    for cls in (WorkerSettings, ReaderSettings):
        for field in cls.model_fields:
            name = field.upper()
            # documented either whole or as a suffix in a grouped row ("/ `_YEAR_WEIGHT`")
            suffix = "_" + name.split("_", 1)[-1]
            if f"STREAMREC_{name}" not in page and f"`{suffix}`" not in page:
                missing.append(f"{cls.__name__}.{field}")
    assert not missing, missing
