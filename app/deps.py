"""Request-scoped helpers shared by the routers: validated ids, the store, the settings."""

from __future__ import annotations

from fastapi import HTTPException, Request

from app.settings import ReaderSettings
from app.store import ReaderStore


def settings_of(request: Request) -> ReaderSettings:
    return request.app.state.settings


def store_of(request: Request) -> ReaderStore:
    return request.app.state.store


def checked_id(value: str, name: str, request: Request) -> str:
    """Ids are any UTF-8 text up to the configured length; the key layout escapes them."""
    limit = settings_of(request).limits.max_id_length
    if not value.strip():
        raise HTTPException(422, f"{name} is empty")
    if len(value) > limit:
        raise HTTPException(422, f"{name} has {len(value)} characters, at most {limit} allowed")
    return value
