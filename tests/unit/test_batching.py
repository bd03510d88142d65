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

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import metrics
from streams.state.memory import MemoryProgress
from streams.state.progress import StaleOwner
from streams.worker.batching import Cut, PartitionBatcher, owned

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
        """A new process: nothing survives but the store (not its tokens: those are the
        process's), the state and the commits."""
        self.store = self.store.another_process()
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

    async def apply(
        self, portions: list[tuple[int, int, list[Ev]]], store: MemoryProgress | None = None
    ) -> None:
        """One batch as an engine applies it (through this process's store unless another
        is named): intent, each key's share, fences."""
        store = store or self.store
        ends = {p: end for p, end, _ in portions}
        self.step()
        await store.begin(NAME, ends)
        for partition, end, events in portions:
            for key in sorted({e.key for e in events}):
                self.step()
                self.apply_key(partition, end, key, events)
        self.step()
        await store.commit(NAME, ends)

    def apply_key(self, partition: int, end: int, key: str, events: list[Ev]) -> None:
        """One key's share of a portion, as the engines' scripts: behind its own fence."""
        if self.key_fence.get((key, partition), -1) >= end:
            return  # this key applied the batch before a crash (or another owner did)
        for e in events:
            if e.key == key:
                self.applied[(partition, e.message.offset)] += 1
        self.key_fence[(key, partition)] = end

    def previous_owner(self, ends: dict[int, int]) -> None:
        """Another worker claimed the partitions and committed ``ends`` meanwhile."""
        other = self.store.another_process()

        async def run() -> None:
            for partition in ends:
                await other.claim(NAME, partition)
            await other.begin(NAME, ends)
            await other.commit(NAME, ends)

        asyncio.run(run())

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
    world.previous_owner({0: 4})  # a previous owner applied 0..4
    for o in range(5):
        world.applied[(0, o)] = 1
    rounds = world.run(world.range(0, 0, 7))
    assert [(p[:2], _offsets(p)) for p in rounds[0]] == [((0, 7), [5, 6, 7])]
    assert {(0, o) for o in range(8)} <= world.acked
    assert all(world.applied[(0, o)] == 1 for o in range(8))


def test_revoke_drops_the_cursor_and_its_pending_records_unacknowledged():
    """Revoke: the next owner (or this worker, reassigned) claims and reads the fences."""
    world = World({0: list("abababab")})
    world.run(world.range(0, 0, 5), crash_after=1)  # intent 5
    world.run(world.range(0, 0, 2))  # collecting up to the redo's end
    assert [e.message.offset for e in world.batcher.cursors[0].pending] == [0, 1, 2]
    world.batcher.revoke(0)
    assert 0 not in world.batcher.cursors and not world.acked
    assert not world.store.holds(NAME, 0)
    world.previous_owner({0: 5})  # meanwhile another owner redid it
    for o in range(6):
        world.applied[(0, o)] = 1
    rounds = world.run(world.range(0, 0, 7))  # reassigned: from the committed offset
    assert [(p[:2], _offsets(p)) for p in rounds[0]] == [((0, 7), [6, 7])]
    assert all(world.applied[(0, o)] == 1 for o in range(8))


def _epoch(world: World, partition: int) -> int:
    return int(world.store.hashes.get((NAME, partition), {}).get("epoch", 0))


def _refusals(path: str) -> float:
    return metrics.STALE_OWNER_REFUSALS.labels(path)._value.get()


def test_a_stale_owner_cannot_move_progress_and_lets_its_partitions_go():
    """Issue 14, hole 1: the old owner is paused inside a batch past its session
    timeout, the new one claims its partitions, redoes the batch and goes on; the old
    one wakes up. Its begin and commit are refused, the fences never go back, nothing
    is applied twice, and its partitions are left alone until assigned to it again."""
    world = World({0: list("abcabcabcabc"), 1: list("dedede")})
    old_store, old = world.store, world.batcher
    refused_before = _refusals("unit")

    async def old_begins() -> list[Cut]:
        (cut,) = await old.cut(world.range(0, 0, 5) + world.range(1, 0, 1), world.ack)
        await old_store.begin(NAME, {c.partition: c.end for c in cut})
        world.apply_key(0, 5, "a", cut[0].events)  # then SIGSTOP
        return cut

    cut = asyncio.run(old_begins())
    assert {c.partition: c.end for c in cut} == {0: 5, 1: 1}
    world.restart()  # the new owner: its own process, from the committed offsets
    new_store = world.store
    world.run(world.range(0, 0, 9) + world.range(1, 0, 3))  # the redo, then the rest
    assert asyncio.run(new_store.progress(NAME, 0)) == (9, -1)
    assert asyncio.run(new_store.progress(NAME, 1)) == (3, -1)
    acked_by_new = set(world.acked)

    async def old_resumes() -> None:  # SIGCONT: the rest of its batch, then commit
        for c in cut:
            for key in sorted({e.key for e in c.events}):
                world.apply_key(c.partition, c.end, key, c.events)  # fenced: skipped
        with pytest.raises(StaleOwner) as refused:
            await old_store.commit(NAME, {c.partition: c.end for c in cut})
        assert refused.value.partitions == [0, 1]

        # its next round, through the agents' helper: refused at begin, nothing acked
        async def attempt(cut: list[Cut]) -> None:
            await world.apply([(c.partition, c.end, c.events) for c in cut], old_store)

        late = await old.cut(world.range(0, 6, 11), world.ack)
        assert await owned(old, late[0], attempt, path="unit") is None
        assert old.lost == {0} and not old_store.holds(NAME, 0)
        # a lost partition: neither applied nor acknowledged, and never claimed again
        epoch = _epoch(world, 0)
        assert await old.cut(world.range(0, 10, 11), world.ack) == []
        assert _epoch(world, 0) == epoch

    asyncio.run(old_resumes())
    assert world.acked == acked_by_new
    assert asyncio.run(new_store.progress(NAME, 0)) == (9, -1)  # never backwards
    assert asyncio.run(new_store.progress(NAME, 1)) == (3, -1)
    assert all(world.applied[(0, o)] == 1 for o in range(10)), world.applied
    assert all(world.applied[(1, o)] == 1 for o in range(4)), world.applied
    assert not any(world.applied[(0, o)] for o in (10, 11))
    assert _refusals("unit") - refused_before == 1  # once, for partition 0

    # the new owner goes on; then Faust assigns partition 0 to the old worker again
    world.run(world.range(0, 10, 11))
    old.assign(0)
    assert old.lost == set()
    epoch = _epoch(world, 0)
    world.store, world.batcher = old_store, old
    world.run(world.range(0, 10, 11))  # claims again: the fence shows 11, all acked
    assert _epoch(world, 0) == epoch + 1
    assert all(world.applied[(0, o)] == 1 for o in range(12))
    assert {(0, o) for o in range(12)} <= world.acked


def test_owned_retries_the_partitions_still_owned_and_acks_only_those():
    world = World({0: list("abab"), 1: list("cdcd")})
    (cut,) = asyncio.run(world.batcher.cut(world.range(0, 0, 3) + world.range(1, 0, 3), world.ack))
    thief = world.store.another_process()
    asyncio.run(thief.claim(NAME, 1))
    attempts: list[list[int]] = []

    async def attempt(cut: list[Cut]) -> str:
        attempts.append(sorted(c.partition for c in cut))
        await world.apply([(c.partition, c.end, c.events) for c in cut])
        return "result"

    done = asyncio.run(owned(world.batcher, cut, attempt, path="unit"))
    assert done is not None and done.result == "result"
    assert [c.partition for c in done.cut] == [0]
    assert attempts == [[0, 1], [0]]
    assert world.batcher.lost == {1}
    assert asyncio.run(world.store.progress(NAME, 0)) == (3, -1)
    assert asyncio.run(world.store.progress(NAME, 1)) == (-1, -1)
    assert not any(world.applied[(1, o)] for o in range(4))


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
    holes = _holes()
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
    assert _holes() == holes  # never a record skipped on the way


def _holes() -> float:
    return metrics.OFFSET_HOLES.labels(NAME)._value.get()


def test_records_skipped_past_a_fence_are_counted_and_logged(caplog):
    """A committed offset that passed unapplied records (what a broken acknowledgement
    order would cause): the path cannot get them back, but says so."""
    world = World({0: list("abcdefghijkl")})
    world.previous_owner({0: 3})  # applied 0..3
    before = _holes()
    world.run(world.range(0, 4, 5))
    assert _holes() == before
    world.run([world.event(0, o) for o in (9, 10)])  # 6..8 never delivered
    assert _holes() == before + 3
    assert "records 6..8 were never received" in caplog.text
