"""The convergence sweep queues every user once the stream is quiet, page by page,
behind the stale lists, and records the count of mean changes it began at."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.worker.sweep import Sweep


class FakeStore:
    """The sweep's view of Redis: the users with a mean (paged as HSCAN does, cursor 0
    ends), the stale and due lists, and the counts."""

    def __init__(self, users: int) -> None:
        self.users = [f"u{k}" for k in range(users)]
        self.changes, self.swept = 0, 0
        self.began: tuple[int, int] | None = None
        self.marks = 0
        self.queued: list[str] = []
        self.stale = self.due = 0

    async def convergence(self) -> tuple[int, int]:
        return self.changes, self.swept

    async def backlog(self) -> tuple[int, int]:
        return self.stale + self.due, self.marks

    async def users_page(self, cursor: int, count: int) -> tuple[int, list[str]]:
        page = self.users[cursor : cursor + count]
        end = cursor + count
        return (0 if end >= len(self.users) else end), page

    async def queue_for_sweep(
        self, users: list[str], swept: int | None = None, began: tuple[int, int] | None = None
    ) -> None:
        if began is not None:
            assert not self.stale and not self.due  # the stream's backlog had drained
            self.began = began
        self.queued += users
        if swept is not None:
            self.swept = swept


def run(sweep: Sweep, store: FakeStore, ticks: int) -> None:
    for _ in range(ticks):
        asyncio.run(sweep.step(store))


@given(users=st.integers(1, 50), page=st.integers(1, 20))
@settings(max_examples=50, deadline=None)
def test_a_quiet_stream_queues_every_user_once_then_records_the_sweep(users, page):
    store, sweep = FakeStore(users), Sweep(page=page)
    store.changes = 3
    run(sweep, store, ticks=users // page + 3)  # a tick with nothing stale first
    assert sorted(store.queued) == sorted(store.users)  # each once
    assert store.swept == 3
    run(sweep, store, ticks=3)  # converged: nothing more
    assert len(store.queued) == users


def test_nothing_is_queued_while_stale_lists_wait_or_the_stream_runs():
    store, sweep = FakeStore(10), Sweep(page=4)
    store.changes, store.stale = 1, 5
    run(sweep, store, ticks=3)
    assert store.queued == [] and store.swept == 0  # the stale lists first
    store.stale, store.due = 0, 2
    run(sweep, store, ticks=3)
    assert store.queued == [] and store.began is None  # then the lists due to be fused
    store.due = 0
    asyncio.run(sweep.step(store))
    assert store.queued == []  # one tick with nothing stale before the first page
    asyncio.run(sweep.step(store))
    assert store.queued == store.users[:4]
    store.changes = 2  # a batch moved a mean mid-sweep: start again once quiet
    asyncio.run(sweep.step(store))
    assert len(store.queued) == 4 and store.swept == 0
    run(sweep, store, ticks=5)
    assert store.swept == 2 and set(store.queued) == set(store.users)
    assert store.queued[4:8] == store.users[:4]  # from the first page again


def test_a_sweep_records_the_count_it_began_at_not_a_later_one():
    store, sweep = FakeStore(6), Sweep(page=3)
    store.changes, store.marks = 5, 17
    run(sweep, store, ticks=2)  # a tick with nothing stale, then the first page
    assert store.queued == store.users[:3]
    assert sweep.began_at == 5 and store.began == (5, 17)  # recorded with the first page
    assert store.swept == 0
    asyncio.run(sweep.step(store))  # the last page
    assert store.swept == 5 and sweep.began_at is None
