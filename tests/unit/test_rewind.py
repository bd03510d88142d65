"""The rewind at an assignment: committed offsets past Redis's fences are set back to
them, before Faust seeks; the fences come from the same progress store the paths use."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

from streams.state.memory import MemoryProgress
from streams.worker.rewind import Rewind, Rewinder, rewinds


class TP(NamedTuple):
    topic: str
    partition: int


def test_only_partitions_whose_committed_offset_passed_the_lowest_fence_rewind():
    committed = {("r", 0): 100, ("r", 1): 50, ("r", 2): None, ("r", 3): 0, ("b", 0): 9}
    fences = {("r", 0): [99, 40], ("r", 1): [80, 60], ("r", 2): [5], ("r", 3): [-1]}
    # r/0: a path at 40 lost 41..99; r/1: Redis ahead of Kafka (normal); r/2, r/3 never
    # committed; b/0: no path reads it here
    assert rewinds(committed, fences) == [Rewind("r", 0, 100, 41)]
    assert rewinds({("r", 0): 7}, {("r", 0): [-1]}) == [Rewind("r", 0, 7, 0)]  # all lost
    assert Rewind("r", 0, 100, 41).records == 59


class Consumer:
    """What the rewinder asks of Faust's consumer."""

    def __init__(self, committed: dict[TP, int | None], earliest: dict[TP, int]) -> None:
        self.committed = committed
        self.earliest = earliest
        self.commits: list[dict[TP, int]] = []
        self.seeks: dict[TP, int] = {}

    def assignment(self) -> set[TP]:
        return set(self.committed)

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return dict(self.committed)

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.earliest.get(tp, 0) for tp in tps}

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks[tp] = offset

    async def _commit(self, offsets: dict[TP, int]) -> bool:
        self.commits.append(offsets)
        self.committed.update(offsets)
        return True


async def _applied(store: MemoryProgress, name: str, partition: int, end: int) -> None:
    await store.claim(name, partition)
    await store.begin(name, {partition: end})
    await store.commit(name, {partition: end})


def test_the_rewinder_commits_the_lowest_fence_back(caplog: Any):
    async def main() -> None:
        store = MemoryProgress()
        await _applied(store, "ratings#a", 0, 99)
        await _applied(store, "ratings#b", 0, 40)  # this path's later batches were lost
        await _applied(store, "ratings#a", 1, 30)
        await _applied(store, "ratings#b", 1, 30)
        await _applied(store, "by-item", 0, 12)
        rewinder = Rewinder(store)
        rewinder.watch("ratings", "ratings#a")
        rewinder.watch("ratings", "ratings#b")
        rewinder.watch("by-item", "by-item")
        consumer = Consumer(
            {TP("ratings", 0): 100, TP("ratings", 1): 31, TP("by-item", 0): 20, TP("x", 0): 5},
            {TP("by-item", 0): 16},  # retention deleted 0..15
        )
        plan = await rewinder.rewind(consumer)
        assert plan == [Rewind("by-item", 0, 20, 13), Rewind("ratings", 0, 100, 41)]
        assert consumer.commits == [{TP("by-item", 0): 13, TP("ratings", 0): 41}]
        assert consumer.seeks == consumer.commits[0]  # a committed 0 is not sought by Faust
        assert "no longer holds 13..15" in caplog.text  # the part retention took is named
        assert await rewinder.rewind(consumer) == []  # nothing more once committed back

    asyncio.run(main())
