"""``streams.worker.gather``: batches grow under a backlog and go at once without one."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streams.worker.gather import MIN_WAITING, Backlog, gathered


def _run(windows: list[list[int]], behind: list[int], most: int) -> list[tuple[str, Any]]:
    """What happened, in order: each window pulled ("pull", k) and each batch yielded."""
    log: list[tuple[str, Any]] = []

    async def source():
        for k, window in enumerate(windows):
            log.append(("pull", k))
            yield window

    seen = iter(behind)

    async def main() -> None:
        async for batch in gathered(source(), most, lambda _w: next(seen)):
            log.append(("batch", batch))

    asyncio.run(main())
    return log


windows_and_backlog = st.lists(
    st.tuples(
        st.integers(1, 200),
        st.sampled_from([0, 1, MIN_WAITING - 1, MIN_WAITING, 100, 150, 10_000]),
    ),
    max_size=12,
)


def _numbered(spec: list[tuple[int, int]]) -> tuple[list[list[int]], list[int]]:
    """Windows of the given sizes numbering the records 0, 1, ...; and each one's backlog."""
    windows, start = [], 0
    for size, _waiting in spec:
        windows.append(list(range(start, start + size)))
        start += size
    return windows, [waiting for _size, waiting in spec]


@given(windows_and_backlog, st.integers(1, 300))
def test_every_record_once_in_order_and_no_batch_over_most(spec, most):
    windows, behind = _numbered(spec)
    batches = [b for kind, b in _run(windows, behind, most) if kind == "batch"]
    assert [r for b in batches for r in b] == list(range(sum(len(w) for w in windows)))
    assert all(0 < len(b) <= most for b in batches)


@given(windows_and_backlog, st.integers(1, 300))
def test_a_batch_waits_for_the_next_window_only_while_a_backlog_shows(spec, most):
    windows, behind = _numbered(spec)
    log = _run(windows, behind, most)
    held = 0  # records taken and not yet yielded when each window is pulled
    for k, (size, waiting) in enumerate(spec):
        at = log.index(("pull", k))
        after = log[at + 1 : log.index(("pull", k + 1))] if k + 1 < len(spec) else log[at + 1 :]
        out = sum(len(b) for kind, b in after if kind == "batch")
        held += size
        kept = held - out
        if waiting < max(size, MIN_WAITING) or k + 1 == len(spec):  # or the stream ended
            assert kept == 0, "nothing may wait for a window that may never come"
        else:
            assert kept == held % most and kept < most, "a backlog keeps an unfilled batch open"
        held = kept


def test_a_window_of_a_backlog_is_joined_to_the_next():
    log = _run([[1, 2], [3, 4, 5], [6]], [10_000, 10_000, 0], most=100)
    assert log == [("pull", 0), ("pull", 1), ("pull", 2), ("batch", [1, 2, 3, 4, 5, 6])]


def _record(partition: int, offset: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(partition=partition, offset=offset))


class _Consumer:
    def __init__(self, ends: dict[tuple[str, int], int | None]) -> None:
        self.ends = ends

    def assignment(self):
        return [SimpleNamespace(topic=t, partition=p) for t, p in self.ends]

    def highwater(self, tp):
        return self.ends[(tp.topic, tp.partition)]


def test_backlog_counts_each_assigned_partition_past_its_last_taken_offset():
    consumer = _Consumer({("r", 0): 100, ("r", 1): 50, ("r", 2): 10, ("other", 0): 999})
    app = SimpleNamespace(consumer=consumer, rebalancing=False)
    backlog = Backlog(app, "r")
    # partition 0 taken up to 39 (60 wait), 1 up to 49 (none); 2 never taken: not counted
    assert backlog([_record(0, 30), _record(1, 49), _record(0, 39)]) == 60
    consumer.ends[("r", 0)] = 120  # more arrived; a later window took up to 99
    assert backlog([_record(0, 99)]) == 20
    app.rebalancing = True  # nothing is held open while the group waits for acks
    assert backlog([]) == 0
    app.rebalancing = False
    assert backlog([]) == 20
    consumer.ends[("r", 1)] = None  # no fetch answered yet
    del consumer.ends[("r", 0)]  # revoked: no longer counted
    assert backlog([]) == 0


def _stalling_source(release: asyncio.Event, closed: list[str]):
    async def source():
        try:
            yield [1, 2]  # the backlog says more is waiting...
            await release.wait()  # ...but no window comes until, say, a rebalance ends
            yield [3]
        finally:
            closed.append("source")

    return source()


def test_a_held_batch_goes_when_the_next_window_does_not_come_and_the_window_is_kept():
    """A rebalance (or a watermark counting records that never arrive) stops the windows:
    the open batch must go after ``linger_s``, and the window pending then must still be
    the next one read, not lost."""

    async def main() -> list[list[int]]:
        release, seen = asyncio.Event(), iter([10_000, 0])
        stream = gathered(_stalling_source(release, []), 100, lambda _w: next(seen), 0.05)
        # wait_for: a batch held for ever fails here instead of hanging
        batches = [await asyncio.wait_for(anext(stream), 5)]
        release.set()
        batches.append(await asyncio.wait_for(anext(stream), 5))
        return batches

    assert asyncio.run(main()) == [[1, 2], [3]]


def test_closing_the_batches_cancels_the_window_still_pending():
    async def main() -> list[str]:
        closed: list[str] = []
        never = asyncio.Event()  # held here: the pending window stays reachable
        stream = gathered(_stalling_source(never, closed), 100, lambda _w: 10_000, 0.05)
        assert await asyncio.wait_for(anext(stream), 5) == [1, 2]
        await stream.aclose()  # the stream stops while the next window is awaited
        for _ in range(3):
            await asyncio.sleep(0)
        return list(closed)  # a copy: asyncio.run then cancels whatever is left

    assert asyncio.run(main()) == ["source"]
