"""Structured logs: one JSON object per line, with the fields an operator searches by
(``event_id``, ``reason``, ``source``) passed as ``extra={"fields": {...}}``."""

from __future__ import annotations

import json
import logging
from typing import Any


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        body.update(getattr(record, "fields", {}))
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def logging_config(level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict for the worker (Faust) and the reader (uvicorn)."""
    formatter = (
        {"()": "streams.logs.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def event_id_of(raw: bytes | str | None) -> str | None:
    """Best effort: the ``event_id`` of a record that failed validation, if it has one."""
    if raw is None or len(raw) > 65_536:
        return None
    try:
        value = json.loads(raw)
        found = value.get("event_id") if isinstance(value, dict) else None
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(found, str | int):
        return None
    return str(found)[:256].encode("utf-8", "replace").decode("utf-8")
