"""How often a rated item's similar list is re-scored: at most once per ``every_s``.

Re-scoring every rated item's similar lists in every batch (item-to-item and embedding)
was about a fifth of the worker's CPU, and it ran inside the batch: at 1,000 events/s a
popular item was re-scored in every batch, one to two times a second, for a list that
moves by a rank now and then. Now an item re-scored less than ``every_s`` ago is put in
the due set (``streams.state.similar_due``) with the time its pace allows, and re-scored
then: by the batch that runs at that time, or by the worker's timer (``rescore_due``) when
no batch comes. A list is never older than ``every_s`` plus a batch, the stream's last
ratings are in every list once the due set is empty (``wait-idle`` counts it), and
``every_s`` = 0 re-scores every rated item in its batch, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable

from streams.state.similar_due import Due

PRUNE_AT = 4096  # remembered re-scoring times kept before the expired ones are dropped
QUIET_S = 0.5  # no batch for this long: the stream is quiet, everything owed is due now


class SimilarPace:
    def __init__(self, due: Due, every_s: float, clock: Callable[[], float] = time.time) -> None:
        self.due, self.every, self.clock = due, every_s, clock
        self.lock = asyncio.Lock()  # a batch's re-scoring and the timer's never interleave
        self.last: dict[str, float] = {}  # item → when this worker last re-scored it
        self._prune_at = PRUNE_AT
        self.deferred = 0  # items put off / re-scored, for the metrics
        self.scored_items = 0
        self.last_batch = float("-inf")  # when this worker's last batch re-scored

    def split(self, rated: Iterable[str], now: float) -> tuple[list[str], dict[str, float]]:
        """(items to re-score now, items deferred → when due) of a batch's rated items."""
        if self.every <= 0:
            return sorted(set(rated)), {}
        ready, deferred = [], {}
        for item in set(rated):
            last = self.last.get(item)
            if last is None or now - last >= self.every:
                ready.append(item)
            else:
                deferred[item] = last + self.every
        return ready, deferred

    async def in_batch(
        self, rated: Iterable[str], rescore: Callable[[list[str]], Awaitable[None]]
    ) -> None:
        """A batch's re-scoring: what ``take`` gives, passed to ``rescore``."""
        async with self.lock:
            now = self.last_batch = self.clock()
            await self._rescore(await self.take(rated, now), rescore, now)

    async def take(self, rated: Iterable[str], now: float) -> list[str]:
        """The items a batch re-scores: its rated items whose pace allows it, and every
        item due by now (deferred here or by another worker); the rest deferred."""
        ready, deferred = self.split(rated, now)
        if self.every <= 0:
            return ready
        taken = await self.due.defer_and_take(deferred, now)
        self.deferred += len(deferred)
        return sorted(set(ready) | set(taken))

    def scored(self, items: list[str], now: float) -> None:
        self.scored_items += len(items)
        for item in items:
            self.last[item] = now
        if len(self.last) > self._prune_at:  # an expired time is as good as none
            self.last = {i: t for i, t in self.last.items() if now - t < self.every}
            self._prune_at = max(PRUNE_AT, 2 * len(self.last))

    async def rescore_due(self, rescore: Callable[[list[str]], Awaitable[None]]) -> int:
        """The timer's round: re-score what is due when no batch came to do it, and once
        the stream is quiet (no batch here for ``QUIET_S``) everything owed, so a replay's
        last lists do not wait for their pace. Marked busy before it takes, for
        ``wait-idle``, as the refresher's rounds are."""
        if self.every <= 0 or self.lock.locked():
            return 0
        now = self.clock()
        until = float("inf") if now - self.last_batch >= QUIET_S else now
        if not await self.due.any_due(until):
            return 0
        async with self.lock, self.due.busy():
            items = await self.due.defer_and_take({}, until)
            await self._rescore(items, rescore, now)
        return len(items)

    async def _rescore(
        self, items: list[str], rescore: Callable[[list[str]], Awaitable[None]], now: float
    ) -> None:
        try:
            await rescore(items)
        except BaseException:  # taken from the due set: put back, due now, if Redis lets us
            if self.every > 0 and items:
                with contextlib.suppress(Exception):
                    await self.due.defer({i: now for i in items})
            raise
        self.scored(items, now)
