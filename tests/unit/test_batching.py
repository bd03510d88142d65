"""The exactly-once cutter in process: a partitioned log, a consumer group's committed
offsets and a keyed state whose per-key fences skip a batch end they already show (as
the engines' scripts do), over the in-memory progress store. Crashes lose everything
but Redis (the store and the state) and the committed offsets."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.state.memory import MemoryProgress
from streams.worker.batching import PartitionBatcher

NAME = "ratings#test"


@dataclass(frozen=True)
class Msg:
    partition: int
    offset: int


@dataclass(frozen=True)
class Ev:
    message: Msg
    key: str


class Crash(Exception):
    pass


@dataclass
class World:
    logs: dict[int, list[str]]  # partition -> the key of each offset
    store: MemoryProgress = field(default_factory=MemoryProgress)
    key_fence: dict[tuple[str, int], int] = field(default_factory=dict)
    applied: Counter = field(default_factory=Counter)  # (partition, offset) -> times
    committed: dict[int, int] = field(default_factory=dict)  # next offset to read
    acked: set[tuple[int, int]] = field(default_factory=set)
    position: dict[int, int] = field(default_factory=dict)
    batcher: PartitionBatcher = field(init=False)
    countdown: int | None = None  # steps until the crash, None = no crash

    def __post_init__(self) -> None:
        self.committed = {p: 0 for p in self.logs}
        self.restart()

    def restart(self) -> None:
        """A new process: nothing survives but the store, the state and the commits."""
        self.batcher = PartitionBatcher(self.store, NAME)
        self.position = dict(self.committed)
        self.acked = {(p, o) for (p, o) in self.acked if o < self.committed[p]}
        self.countdown = None

    def step(self) -> None:
        if self.countdown is not None:
            if self.countdown == 0:
                raise Crash
            self.countdown -= 1

    def event(self, partition: int, offset: int) -> Ev:
        return Ev(Msg(partition, offset), self.logs[partition][offset])

    def take(self, n: int, order: list[int]) -> list[Ev]:
        """Up to n events, partitions in turn as ``order`` says (each in offset order)."""
        out: list[Ev] = []
        for partition in order * n:
            if len(out) == n:
                break
            if self.position[partition] < len(self.logs[partition]):
                out.append(self.event(partition, self.position[partition]))
                self.position[partition] += 1
        return out

    async def ack(self, event: Ev) -> None:
        self.step()
        self.acked.add((event.message.partition, event.message.offset))

    def commit(self) -> None:
        for p in self.committed:
            while (p, self.committed[p]) in self.acked:
                self.committed[p] += 1
            for o in range(self.committed[p]):  # never past an unapplied record
                assert self.applied[(p, o)] == 1, (p, o, self.committed[p])

    async def apply(self, portions: list[tuple[int, int, list[Ev]]]) -> None:
        """One batch as an engine applies it: intent, each key's share, fences."""
        ends = {p: end for p, end, _ in portions}
        self.step()
        await self.store.begin(NAME, ends)
        for partition, end, events in portions:
            for key in sorted({e.key for e in events}):
                self.step()
                if self.key_fence.get((key, partition), -1) >= end:
                    continue  # this key applied the batch before a crash
                for e in events:
                    if e.key == key:
                        self.applied[(partition, e.message.offset)] += 1
                self.key_fence[(key, partition)] = end
        self.step()
        await self.store.commit(NAME, ends)

    async def agent(self, batch: list[Ev]) -> list[list[Any]]:
        """What the agents do with one taken batch; returns the rounds it applied."""
        rounds = _rounds(await self.batcher.cut(batch, self.ack))
        for portions in rounds:
            await self.apply(portions)
            self.batcher.applied({p: end for p, end, _ in portions})
            for _p, _end, events in portions:
                for e in events:
                    await self.ack(e)
        return rounds

    def run(self, batch: list[Ev], crash_after: int | None = None) -> list[list[Any]]:
        self.countdown = crash_after
        try:
            return asyncio.run(self.agent(batch))
        except Crash:
            self.restart()
            return []
        finally:
            self.countdown = None

    def range(self, partition: int, first: int, last: int) -> list[Ev]:
        return [self.event(partition, o) for o in range(first, last + 1)]


def _rounds(cut: Any) -> list[list[tuple[int, int, list[Ev]]]]:
    """The cutter's answer as rounds of (partition, end, events), applied in order."""
    return [[(c.partition, c.end, c.events) for c in r] for r in cut]


def _offsets(portion: tuple[int, int, list[Ev]]) -> list[int]:
    return [e.message.offset for e in portion[2]]


def test_a_crashed_batch_is_cut_again_at_exactly_its_recorded_end():
    world = World({0: list("abcabcabcabcabc")})  # 15 events, keys a b c
    world.run(world.range(0, 0, 9), crash_after=2)  # intent written, key a applied
    assert asyncio.run(world.store.progress(NAME, 0)) == (-1, 9)
    assert world.applied[(0, 0)] == 1 and world.applied[(0, 1)] == 0
    rounds = world.run(world.range(0, 0, 14))  # the restart reads from offset 0 again
    assert [p[:2] for p in rounds[0]] == [(0, 9)]
    assert _offsets(rounds[0][0]) == list(range(10))
    assert all(world.applied[(0, o)] == 1 for o in range(15))


def test_leftovers_past_the_recorded_end_are_applied_without_new_input():
    """Hole 2: the records after a crashed batch's end came in the same batch; no further
    record ever arrives on this partition, yet they must be applied and acknowledged."""
    world = World({0: list("abcabcabcabc")})
    world.run(world.range(0, 0, 5), crash_after=2)
    rounds = world.run(world.range(0, 0, 11))
    ends = [[p[:2] for p in r] for r in rounds]
    assert ends == [[(0, 5)], [(0, 11)]]
    assert all(world.applied[(0, o)] == 1 for o in range(12))
    world.commit()
    assert world.committed[0] == 12  # nothing left unacknowledged
    assert world.batcher.cursors[0].pending == []


def test_redo_waits_for_the_records_up_to_its_end_then_cuts_both_parts():
    world = World({0: list("abababababab"), 1: list("cdcd")})
    world.run(world.range(0, 0, 7), crash_after=1)  # intent 7, nothing applied
    assert world.run(world.range(0, 0, 3)) == []  # the redo must end at 7: collect
    assert not world.acked
    rounds = world.run(world.range(0, 4, 11) + world.range(1, 0, 3))
    assert sorted(p[:2] for p in rounds[0]) == [(0, 7), (1, 3)]
    assert [p[:2] for p in rounds[1]] == [(0, 11)]
    assert _offsets(rounds[0][0]) == list(range(8))
    assert all(world.applied[(0, o)] == 1 for o in range(12))


def test_records_already_applied_are_acknowledged_on_the_spot():
    world = World({0: list("abcdefgh")})
    asyncio.run(world.store.commit(NAME, {0: 4}))  # a previous owner applied 0..4
    for o in range(5):
        world.applied[(0, o)] = 1
    rounds = world.run(world.range(0, 0, 7))
    assert [(p[:2], _offsets(p)) for p in rounds[0]] == [((0, 7), [5, 6, 7])]
    assert {(0, o) for o in range(8)} <= world.acked
    assert all(world.applied[(0, o)] == 1 for o in range(8))


def test_forget_drops_the_cursor_and_its_pending_records_unacknowledged():
    """Revoke: the next owner (or this worker, reassigned) reads the fences again."""
    world = World({0: list("abababab")})
    world.run(world.range(0, 0, 5), crash_after=1)  # intent 5
    world.run(world.range(0, 0, 2))  # collecting up to the redo's end
    assert [e.message.offset for e in world.batcher.cursors[0].pending] == [0, 1, 2]
    world.batcher.forget(0)
    assert 0 not in world.batcher.cursors and not world.acked
    asyncio.run(world.store.commit(NAME, {0: 5}))  # meanwhile another owner redid it
    for o in range(6):
        world.applied[(0, o)] = 1
    rounds = world.run(world.range(0, 0, 7))  # reassigned: from the committed offset
    assert [(p[:2], _offsets(p)) for p in rounds[0]] == [((0, 7), [6, 7])]
    assert all(world.applied[(0, o)] == 1 for o in range(8))


steps = st.lists(
    st.tuples(
        st.integers(1, 12),  # events taken in the batch
        st.one_of(st.none(), st.integers(0, 30)),  # crash after this many steps
        st.booleans(),  # the consumer commits after the batch
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    logs=st.dictionaries(
        st.integers(0, 2), st.lists(st.sampled_from("abcd"), max_size=25), min_size=1
    ),
    steps=steps,
    order=st.permutations([0, 1, 2]),
    tail=st.lists(st.integers(1, 12), min_size=1, max_size=5),
)
def test_every_offset_is_applied_exactly_once_through_any_crashes(logs, steps, order, tail):
    world = World(logs)
    order = [p for p in order if p in logs]
    for size, crash_after, commit in steps:
        batch = world.take(size, order)
        if batch:
            world.run(batch, crash_after)
        if commit:
            world.commit()
    # the input stops: what was delivered must be applied with no further record
    for size in itertools.cycle(tail):
        batch = world.take(size, order)
        if not batch:
            break
        world.run(batch)
    world.commit()
    for p, log in logs.items():
        assert all(world.applied[(p, o)] == 1 for o in range(len(log))), (p, world.applied)
        assert world.committed[p] == len(log)  # every record acknowledged
