"""The similar lists' pace (streams.engines.pace): an item is re-scored at most once per
``every_s`` by a worker while the stream runs, never left out, and last re-scored after
its last rating once the due set is empty; a quiet stream gets what is owed at once;
with ``every_s`` = 0 every rated item is re-scored in its batch."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engines.pace import QUIET_S, SimilarPace
from streams.state.memory import MemoryDue

ITEMS = [f"i{k}" for k in range(6)]
batches = st.lists(
    st.tuples(st.floats(0.0, 3.0), st.sets(st.sampled_from(ITEMS), max_size=4)),
    min_size=1,
    max_size=25,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(every: float, stream: list[tuple[float, set[str]]], ticks: float = 0.25):
    """Batches at the given gaps, then the timer's rounds until the due set is empty;
    returns (when each item was rated, when re-scored, the due set, the pace); the
    pace's ``batches`` lists when each batch ran."""
    clock, due = Clock(), MemoryDue()
    pace = SimilarPace(due, every, clock)
    pace.batches = []  # type: ignore[attr-defined]
    rated: dict[str, list[float]] = {}
    scored: dict[str, list[float]] = {}

    async def rescore(items: list[str]) -> None:
        assert len(set(items)) == len(items)
        for item in items:
            scored.setdefault(item, []).append(clock.now)

    async def go() -> None:
        for gap, items in stream:
            clock.now += gap
            for item in items:
                rated.setdefault(item, []).append(clock.now)
            pace.batches.append(clock.now)  # type: ignore[attr-defined]
            await pace.in_batch(items, rescore)
            await pace.rescore_due(rescore)  # the timer may run between batches
        for _tick in range(int(every / ticks) + 2):
            clock.now += ticks
            await pace.rescore_due(rescore)

    asyncio.run(go())
    return rated, scored, due, pace


@settings(max_examples=200, deadline=None)
@given(stream=batches, every=st.sampled_from([0.5, 1.0, 2.0]))
def test_each_item_rescored_after_its_last_rating_and_at_most_once_per_pace(stream, every):
    rated, scored, due, pace = run(every, stream)
    assert not due.due  # drained
    assert set(scored) == set(rated)

    def quiet(t: float) -> bool:
        return t - max((b for b in pace.batches if b <= t), default=float("-inf")) >= QUIET_S

    for item, times in scored.items():
        assert times[-1] >= rated[item][-1]  # the list saw the item's last rating
        for a, b in itertools.pairwise(times):  # never faster than the pace while busy
            assert b - a >= every or quiet(b), (item, times, pace.batches)


@settings(max_examples=100, deadline=None)
@given(stream=batches)
def test_no_pace_rescores_every_rated_item_in_its_batch(stream):
    rated, scored, due, pace = run(0.0, stream)
    assert scored == rated  # each rating time, once: the batch did it
    assert not due.taken and pace.deferred == 0


def test_a_hot_item_is_rescored_once_per_pace_not_once_per_batch():
    stream = [(0.1, {"i0"})] * 40  # rated in every batch, 10 batches a second, for 4 s
    rated, scored, _due, pace = run(1.0, stream)
    assert len(rated["i0"]) == 40
    assert 4 <= len(scored["i0"]) <= 6  # ~once a second, and once more after the last
    assert scored["i0"][-1] >= rated["i0"][-1]
    assert pace.deferred > 30


def test_a_round_that_fails_puts_what_it_took_back():
    clock, due = Clock(), MemoryDue()
    pace = SimilarPace(due, 1.0, clock)

    async def ok(items: list[str]) -> None:
        return None

    async def fails(items: list[str]) -> None:
        raise ConnectionError("Redis went away")

    async def go() -> None:
        await pace.in_batch(["i0"], ok)
        clock.now += 0.1
        await pace.in_batch(["i0"], ok)  # deferred
        assert set(due.due) == {"i0"}
        clock.now += 1.0
        with pytest.raises(ConnectionError):
            await pace.rescore_due(fails)
        assert set(due.due) == {"i0"} and due.busy_rounds == 1  # taken, then put back

    asyncio.run(go())


def test_a_quiet_stream_gets_what_is_owed_without_waiting_for_the_pace():
    stream = [(0.1, {"i0", "i1"})] * 5  # deferred: a pace of 30 s
    clock, due = Clock(), MemoryDue()
    pace = SimilarPace(due, 30.0, clock)
    scored: list[tuple[float, list[str]]] = []

    async def rescore(items: list[str]) -> None:
        scored.append((clock.now, items))

    async def go() -> None:
        for gap, items in stream:
            clock.now += gap
            await pace.in_batch(items, rescore)
        assert set(due.due) == {"i0", "i1"}
        clock.now += QUIET_S / 2
        assert await pace.rescore_due(rescore) == 0  # not quiet yet, not due
        clock.now += QUIET_S / 2
        assert await pace.rescore_due(rescore) == 2  # quiet: all owed, 29 s early
        assert not due.due

    asyncio.run(go())
    assert scored[-1] == (clock.now, ["i0", "i1"])
