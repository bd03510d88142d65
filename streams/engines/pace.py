"""How often a rated item's similar list is re-scored: at most once per ``every_s`` per
worker while the stream runs.

Re-scoring every rated item's similar lists in every batch (item-to-item and embedding)
was about a fifth of the worker's CPU: at 1,000 events/s a popular item was re-scored in
every batch, one to two times a second, for a list that moves by a rank now and then.
Now an item this worker re-scored less than ``every_s`` ago goes to the due set
(``streams.state.similar_due``) with the time its pace allows, and is re-scored then: by
the batch that runs at that time (``take_in_batch``) or by the worker's timer
(``rescore_due``), and by the timer at once when the worker is quiet.

What makes it exact at the end: an item is taken from the due set (leased, never just
removed) *before* the state it is scored from is read, so a rating applied after that
read defers it again; it leaves the taken set only once its list is written, and comes
back if the lease runs out. ``wait-idle`` counts both sets. ``every_s`` = 0 re-scores every
rated item in its batch, as before, and the timer only drains what another setting left.
The engine holds ``lock`` over its apply too: a timer round never reads rows or a model
half-way through a batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from math import inf

from streams.state.similar_due import Due

PRUNE_AT = 4096  # remembered re-scoring times kept before the expired ones are dropped

# (items, the ones taken from the due set: state another worker may have moved since
# this one last applied, so no copy of theirs may be trusted without a check)
Rescore = Callable[[list[str], set[str]], Awaitable[None]]


class SimilarPace:
    def __init__(
        self,
        due: Due,
        every_s: float,
        take_in_batch: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.due, self.every, self.clock = due, every_s, clock
        # else a batch only defers (its ready items due at once) and the timer re-scores,
        # from state read after its take (a batch's own state was read before)
        self.take_in_batch = take_in_batch
        self.lock = asyncio.Lock()  # the engine's apply, its re-scoring, the timer's round
        self.last: dict[str, float] = {}  # item → when this worker last re-scored it
        self._prune_at = PRUNE_AT
        self.deferred = 0  # items this worker's batches put off
        # the timer's rounds at most this often: each may read a whole model
        self.round_every = max(0.25, every_s / 5)
        self._last_round = float("-inf")

    def split(self, rated: Iterable[str], now: float) -> tuple[list[str], dict[str, float]]:
        """(items to re-score now, items deferred → when due) of a batch's rated items."""
        if self.every <= 0:
            return sorted(set(rated)), {}
        ready, deferred = [], {}
        for item in set(rated):
            last = self.last.get(item)
            due = None if last is None else last + self.every
            if due is None or due <= now:  # as the due set compares: never both ways
                ready.append(item)
            else:
                deferred[item] = due
        return sorted(ready), deferred

    async def in_batch(self, rated: Iterable[str], rescore: Rescore) -> None:
        """A batch's re-scoring: its rated items whose pace allows it, and (with
        ``take_in_batch``) every item due by now, deferred here or by another worker."""
        async with self.lock:
            now = self.clock()
            ready, deferred = self.split(rated, now)
            if self.every <= 0:  # no pace: every rated item, now
                await rescore(ready, set())
                return
            if not self.take_in_batch:  # all to the timer, due now or at their pace
                if ready or deferred:
                    await self.due.defer_and_take(deferred | dict.fromkeys(ready, now), -inf, now)
                    self.deferred += len(deferred)
                return
            taken, lease = await self.due.defer_and_take(deferred, now, now)
            self.deferred += len(deferred)
            await rescore(sorted(set(ready) | set(taken)), set(taken) - set(ready))
            await self.due.done(taken, lease)
            self.scored([*ready, *taken], now)

    async def rescore_due(self, rescore: Rescore, quiet: bool) -> int:
        """The timer's round: what is due, and everything owed once the worker is
        ``quiet`` (no record in flight, none handled since the last look), so a replay's
        last lists do not wait for their pace. Taken before anything is read."""
        now = self.clock()
        if not quiet and now - self._last_round < self.round_every:
            return 0
        until = inf if quiet or self.every <= 0 else now
        if not await self.due.any_due(until, now):
            return 0
        self._last_round = now
        async with self.lock:
            now = self.clock()
            taken, lease = await self.due.defer_and_take({}, until, now)
            await rescore(taken, set(taken))
            await self.due.done(taken, lease)
            self.scored(taken, now)
        return len(taken)

    def scored(self, items: list[str], now: float) -> None:
        if self.every <= 0:
            return
        for item in items:
            self.last[item] = now
        if len(self.last) > self._prune_at:  # an expired time is as good as none
            self.last = {i: t for i, t in self.last.items() if now - t < self.every}
            self._prune_at = max(PRUNE_AT, 2 * len(self.last))
