"""The convergence sweep: once the stream is quiet, every user's lists are refreshed
once, so that every stored similarity and prediction converges to the exact formula.

Why: a rater's new mean moves its Pearson similarity with every partner, but only the
partners that share an item of the batch are marked stale (docs/algorithm.md, Freshness);
the others kept a similarity computed with the old mean until their own next event. The
worker counts the batches that moved a mean (``mean_changes``); when that count has not
moved for a tick and no list waits (stale, or due to be fused), the sweep queues the
users a page per tick (HSCAN of the means), behind the stale ones; it records the count it
began at with its first page (``sweep_began``, with ``sweep_marks``: the stale marks seen
when the stream's own backlog was empty, so ``wait-idle --skip-sweep`` and ``make demo``
can tell the sweep's queue from the stream's) and again with its last (``swept``: what
``wait-idle`` waits for).
A stream that starts again restarts the sweep once it stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

PAGE = 200  # users queued per quiet tick: about what the refresher takes in one


class SweepStore(Protocol):
    async def convergence(self) -> tuple[int, int]: ...

    async def backlog(self) -> tuple[int, int]: ...

    async def users_page(self, cursor: int, count: int) -> tuple[int, list[str]]: ...

    async def queue_for_sweep(
        self, users: list[str], swept: int | None = None, began: tuple[int, int] | None = None
    ) -> None: ...


@dataclass
class Sweep:
    page: int = PAGE
    cursor: int = 0
    began_at: int | None = None  # ``mean_changes`` when the running sweep began
    last_seen: int | None = None  # ``mean_changes`` at the last step
    drained: bool = False  # nothing was stale at the last step

    async def step(self, store: SweepStore) -> int:
        """One page of users queued if the stream is quiet, none waits and the lists
        have not converged; returns how many were queued."""
        changes, swept = await store.convergence()
        moved = self.last_seen is not None and changes != self.last_seen
        self.last_seen = changes
        if moved:  # the stream runs: what is queued so far may be stale again
            self.began_at, self.cursor, self.drained = None, 0, False
            return 0
        if self.began_at is None and swept >= changes:
            return 0
        pending, marks = await store.backlog()
        was_drained, self.drained = self.drained, not pending
        if not self.drained:
            return 0  # the stale and due lists first
        began = None
        if self.began_at is None:
            if not was_drained:  # a tick with nothing stale first: the stale backlog's
                return 0  # end stays visible (``wait-idle``, the benchmarks) before this
            self.began_at, self.cursor, began = changes, 0, (changes, marks)
        self.cursor, users = await store.users_page(self.cursor, self.page)
        last = self.began_at if self.cursor == 0 else None  # the last page: all queued
        await store.queue_for_sweep(users, swept=last, began=began)
        if last is not None:
            self.began_at = None
        return len(users)
