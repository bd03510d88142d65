"""The similar lists' pace (streams.engines.pace): an item is re-scored at most once per
``every_s`` by a worker while the stream runs, never left out, and last re-scored from
state that holds its last rating once the due and taken sets are empty; a quiet worker
gets what is owed at once; a taker that fails leaves its items to come back; with
``every_s`` = 0 every rated item is re-scored in its batch."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engines.pace import SimilarPace
from streams.state.memory import MemoryDue
from tests.unit.test_perf_refresher import Clock

ITEMS = [f"i{k}" for k in range(6)]
batches = st.lists(
    st.tuples(
        st.floats(0.0, 3.0),  # gap before the batch
        st.sets(st.sampled_from(ITEMS), max_size=4),  # its rated items
        st.floats(0.0, 1.0),  # when the timer's round runs after it, as a share of the gap
    ),
    min_size=1,
    max_size=25,
)


class World:
    """A stream over ``SimilarPace``: each rating moves its item's version; a re-scoring
    records the version it read (a batch's own items as its apply left them, taken items
    as they are at the take), so a list written from old state is visible."""

    def __init__(self, every: float, take_in_batch: bool = True) -> None:
        self.clock, self.due = Clock(), MemoryDue()
        self.pace = SimilarPace(self.due, every, take_in_batch, clock=self.clock)
        self.version: dict[str, int] = {}
        self.rated: dict[str, list[float]] = {}
        self.written: dict[str, list[tuple[float, int, bool]]] = {}  # time, version, quiet
        self.quiet = False

    async def rescore(self, items: list[str], taken: set[str]) -> None:
        assert len(set(items)) == len(items)
        for item in items:
            self.written.setdefault(item, []).append(
                (self.clock.now, self.version.get(item, 0), self.quiet)
            )

    async def batch(self, items: set[str]) -> None:
        for item in items:
            self.version[item] = self.version.get(item, 0) + 1
            self.rated.setdefault(item, []).append(self.clock.now)
        await self.pace.in_batch(items, self.rescore)

    async def round(self, quiet: bool) -> int:
        self.quiet = quiet
        try:
            return await self.pace.rescore_due(self.rescore, quiet)
        finally:
            self.quiet = False


def run(every: float, stream, take_in_batch: bool = True) -> World:
    world = World(every, take_in_batch)

    async def go() -> None:
        for gap, items, later in stream:
            world.clock.now += gap * (1 - later)
            await world.batch(items)
            world.clock.now += gap * later
            await world.round(quiet=False)  # the timer between batches, the stream running
        for _tick in range(3):
            world.clock.now += 0.25
            await world.round(quiet=True)

    asyncio.run(go())
    return world


@settings(max_examples=300, deadline=None)
@given(stream=batches, every=st.sampled_from([0.5, 1.0, 2.0]), take_in_batch=st.booleans())
def test_each_list_ends_from_its_items_last_rating_and_keeps_the_pace(stream, every, take_in_batch):
    world = run(every, stream, take_in_batch)
    assert not world.due.due and not world.due.taken  # drained
    assert set(world.written) == set(world.rated)
    for item, writes in world.written.items():
        assert writes[-1][1] == world.version[item]  # read after the item's last rating
        for (a, _v, _q), (b, _w, quiet) in itertools.pairwise(writes):
            assert b >= a + every or quiet, (item, writes)  # the pace, while the stream runs


@settings(max_examples=100, deadline=None)
@given(stream=batches)
def test_no_pace_rescores_every_rated_item_in_its_batch(stream):
    world = run(0.0, stream)
    assert {i: [t for t, _v, _q in w] for i, w in world.written.items()} == world.rated
    assert not world.due.taken_log and world.pace.deferred == 0


def test_a_hot_item_is_rescored_once_per_pace_not_once_per_batch():
    stream = [(0.1, {"i0"}, 0.5)] * 40  # rated in every batch, 10 batches a second, for 4 s
    world = run(1.0, stream)
    assert len(world.rated["i0"]) == 40
    assert 4 <= len(world.written["i0"]) <= 6  # ~once a second, and once more at the end
    assert world.pace.deferred > 30


def test_a_quiet_worker_gets_what_is_owed_without_waiting_for_the_pace():
    world = World(30.0)

    async def go() -> None:
        for _k in range(5):
            world.clock.now += 0.1
            await world.batch({"i0", "i1"})
        assert set(world.due.due) == {"i0", "i1"}  # deferred: a pace of 30 s
        world.clock.now += 0.25
        assert await world.round(quiet=False) == 0  # running, and not due for 29 s
        assert await world.round(quiet=True) == 2  # quiet: all owed, at once
        assert not world.due.due and not world.due.taken

    asyncio.run(go())


def test_a_taker_that_fails_leaves_its_items_to_come_back_after_the_lease():
    world = World(1.0)

    async def fails(items: list[str], taken: set[str]) -> None:
        raise ConnectionError("Redis went away")

    async def go() -> None:
        await world.batch({"i0"})
        world.clock.now += 0.1
        await world.batch({"i0"})  # deferred
        world.clock.now += 1.0
        with pytest.raises(ConnectionError):
            await world.pace.rescore_due(fails, quiet=False)
        assert set(world.due.taken) == {"i0"} and not world.due.due  # leased, unwritten
        world.clock.now += world.due.LEASE_S
        assert await world.round(quiet=True) == 1  # the lease ran out: taken again
        assert not world.due.taken

    asyncio.run(go())
    assert world.written["i0"][-1][1] == 2
