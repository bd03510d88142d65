"""The items whose similar lists wait for their path's pace (``streams.engines.pace``).

A sorted set per kind of list, item → when it is due. Kept in Redis, not only in the
worker: ``wait-idle`` counts it (nothing is idle while a list is owed), a second worker
takes what the first deferred, and a restarted worker finds what a crashed one owed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import redis.asyncio as aioredis

from streams.state import keys
from streams.state.codecs import text
from streams.state.toolkit import Busy, script

TAKE_MAX = 10_000  # items re-scored in one go at most; the rest at the next call


class Due(Protocol):
    """What ``streams.engines.pace`` needs of the due set (Redis here, a dict in
    ``streams.state.memory``)."""

    async def defer_and_take(self, deferred: Mapping[str, float], now: float) -> list[str]: ...

    async def defer(self, deferred: Mapping[str, float]) -> None: ...

    async def any_due(self, now: float | None = None) -> bool: ...

    def busy(self) -> AbstractAsyncContextManager[object]: ...


class DueSimilar:
    def __init__(self, client: aioredis.Redis, kind: str) -> None:
        self.redis = client
        self.key = keys.similar_due(kind)
        self._pace = client.register_script(script("pace_similar.lua"))

    async def defer_and_take(self, deferred: Mapping[str, float], now: float) -> list[str]:
        """Defer ``deferred`` (item → due time; an item already due keeps its earlier
        time) and take the items due at ``now``, in one call."""
        args: list[str | float] = [now, TAKE_MAX]
        for item, due in deferred.items():
            args += [due, item]
        taken = await self._pace(keys=[self.key], args=args)
        return [text(i) for i in taken]

    async def defer(self, deferred: Mapping[str, float]) -> None:
        """Defer without taking anything (no item is due at -inf)."""
        args: list[str | float] = ["-inf", 0]
        for item, due in deferred.items():
            args += [due, item]
        await self._pace(keys=[self.key], args=args)

    async def any_due(self, now: float | None = None) -> bool:
        at = time.time() if now is None else now
        return bool(await self.redis.zcount(self.key, "-inf", at))

    def busy(self) -> Busy:
        """A timer's round, marked for ``wait-idle`` before it takes (``toolkit.Busy``)."""
        return Busy(self.redis)
