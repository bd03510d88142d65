"""The routes' typed dependencies: the settings, the store, validated ids.

Each is an ``async def`` so that FastAPI calls it on the event loop: a plain ``def``
dependency is sent to a thread pool, which costs more than the work it does here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from app.settings import ReaderSettings
from app.store import ReaderStore


async def settings_of(request: Request) -> ReaderSettings:
    return request.app.state.settings


async def store_of(request: Request) -> ReaderStore:
    return request.app.state.store


Settings = Annotated[ReaderSettings, Depends(settings_of)]
Store = Annotated[ReaderStore, Depends(store_of)]


def id_problem(value: str, name: str, limit: int) -> str | None:
    """Ids are any UTF-8 text up to the configured length; the key layout escapes them."""
    if not value.strip():
        return f"{name} is empty"
    if len(value) > limit:
        return f"{name} has {len(value)} characters, at most {limit} allowed"
    return None


def checked(value: str, name: str, settings: ReaderSettings) -> str:
    problem = id_problem(value, name, settings.limits.max_id_length)
    if problem is not None:
        raise HTTPException(422, problem)
    return value


# the id checks read the settings themselves rather than through ``Settings``: each
# nested dependency costs the recommendations route a few percent of its requests/s
async def _user_id(request: Request, user_id: Annotated[str, Path()]) -> str:
    return checked(user_id, "user_id", request.app.state.settings)


async def _other_id(request: Request, other_id: Annotated[str, Path()]) -> str:
    return checked(other_id, "other_id", request.app.state.settings)


async def _item_id(request: Request, item_id: Annotated[str, Path()]) -> str:
    return checked(item_id, "item_id", request.app.state.settings)


UserId = Annotated[str, Depends(_user_id)]
OtherId = Annotated[str, Depends(_other_id)]
ItemId = Annotated[str, Depends(_item_id)]
