"""The items whose similar lists wait for their path's pace (``streams.engines.pace``).

Per kind of list, two sorted sets: the due set (item → when it is due) and the taken set
(item → until when the worker that took it holds it). Kept in Redis, not only in the
worker: ``wait-idle`` counts both (nothing is idle while a list is owed), a second worker
takes what the first deferred, and what a taker never wrote (it died, Redis failed
under it) goes back to the due set when its lease runs out, so no owed list is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import redis.asyncio as aioredis

from streams.state import keys
from streams.state.codecs import text
from streams.state.toolkit import script

TAKE_MAX = 10_000  # items re-scored in one go at most; the rest at the next call
LEASE_S = 30.0  # a taken list not written by then is due again


class Due(Protocol):
    """What ``streams.engines.pace`` needs of the due set (Redis here, a dict in
    ``streams.state.memory``); ``kind``: the lists' (cf, embedding)."""

    kind: str

    async def defer_and_take(
        self, deferred: Mapping[str, float], until: float, now: float
    ) -> tuple[list[str], float]: ...

    async def done(self, items: list[str], lease: float) -> None: ...

    async def any_due(self, until: float, now: float) -> bool: ...

    async def owed(self) -> tuple[int, int]: ...


class DueSimilar:
    def __init__(self, client: aioredis.Redis, kind: str) -> None:
        self.redis, self.kind = client, kind
        self.keys = [keys.similar_due(kind), keys.similar_taken(kind)]
        self._pace = client.register_script(script("pace_similar.lua"))
        self._done = client.register_script(script("similar_done.lua"))

    async def defer_and_take(
        self, deferred: Mapping[str, float], until: float, now: float
    ) -> tuple[list[str], float]:
        """Defer ``deferred`` (item → due time; an item already due keeps its earlier
        time) and take the items due at ``until`` (-inf: none), leased until the returned
        time, in one call."""
        lease = now + LEASE_S
        args: list[str | float] = [_bound(until), TAKE_MAX, now, lease]
        for item, due in deferred.items():
            args += [due, item]
        taken = await self._pace(keys=self.keys, args=args)
        return [text(i) for i in taken], lease

    async def done(self, items: list[str], lease: float) -> None:
        """The taken ``items`` are written: out of the taken set (if still our lease)."""
        if items:
            await self._done(keys=self.keys[1:], args=[lease, *items])

    async def any_due(self, until: float, now: float) -> bool:
        """Anything due at ``until``, or a lease run out at ``now``."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcount(self.keys[0], "-inf", _bound(until))
            pipe.zcount(self.keys[1], "-inf", now)
            due, expired = await pipe.execute()
        return bool(due or expired)

    async def owed(self) -> tuple[int, int]:
        """(lists due, lists taken and not yet written): the pace's backlog, for the
        ``streamrec_similar_owed`` gauge."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys[0])
            pipe.zcard(self.keys[1])
            due, taken = await pipe.execute()
        return int(due), int(taken)


def _bound(at: float) -> str | float:
    return "+inf" if at == float("inf") else "-inf" if at == float("-inf") else at
