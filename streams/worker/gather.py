"""Batches as large as the backlog allows, and as small as the stream when it keeps up.

Faust's ``take`` closes its window ``within`` seconds after it starts waiting, and every
record costs tens of µs to pass through Faust into its buffer; it cannot fill that buffer
while the previous batch is being applied either. So under a backlog of 100,000 records a
window of 50 ms held 1,000–2,500 of the 4,000 a batch may hold (ML-100K: 87 batches of
1,150 on average). The list work of a batch grows with its distinct users and items, not
its events (``bench.engines``: 1,000 events per batch 1,014 events/s, 3,000: 1,584,
10,000: 2,505), so small batches under a backlog cost most of the throughput.

``gathered`` joins a window's records with the next windows' while the backlog shows that
at least as many records were already waiting as the window took: the window could not
collect what was there. When the stream keeps up, what waits after a window is what
arrived during it, fewer than it took, and the batch goes at once: an idle stream's
latency is unchanged. Records taken past ``most`` are carried into the next batch.

A batch held open waits at most ``linger_s`` for the next window: Faust hands over no
empty window, and records held unacknowledged while the group rebalances would hold up
the whole group (Faust waits for every delivered record to be acknowledged), so a window
that does not come (a rebalance, records the watermark counted that never arrive) must
not hold the batch. The pending window is kept for the next round, never cancelled: a
cancelled ``take`` would end the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# Waiting records below this never keep a batch open: offsets that hold no record
# (transaction markers) would otherwise make a window wait for records that never come.
MIN_WAITING = 64
# How long an open batch waits for the next window; under a backlog one comes within
# Faust's ``within`` (50 ms by default).
LINGER_S = 0.5


async def gathered(
    windows: AsyncIterator[list[T]],
    most: int,
    waiting: Callable[[list[T]], int],
    linger_s: float = LINGER_S,
) -> AsyncIterator[list[T]]:
    """Batches of at most ``most`` records, in order, from ``windows``; ``waiting(window)``
    sees every window once, in order, and says how many records wait after it."""
    carry: list[T] = []
    pending: asyncio.Future[list[T]] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(windows))
            if carry:  # an open batch: the next window, or the batch as it is
                done, _ = await asyncio.wait({pending}, timeout=linger_s)
                if not done:
                    yield carry
                    carry = []
                    continue
            try:
                window = await pending
            except StopAsyncIteration:
                break
            finally:
                pending = None
            carry.extend(window)
            behind = waiting(window)
            while len(carry) >= most:
                yield carry[:most]
                carry = carry[most:]
            if carry and behind < max(len(window), MIN_WAITING):
                yield carry
                carry = []
        if carry:
            yield carry
    finally:
        if pending is not None:
            pending.cancel()


class _Message(Protocol):
    partition: int
    offset: int


class _Consumer(Protocol):
    def assignment(self) -> Iterable[Any]: ...

    def highwater(self, tp: Any) -> int | None: ...


class _App(Protocol):
    @property
    def consumer(self) -> Any: ...  # a ``_Consumer``; Faust types it ``ConsumerT``

    rebalancing: bool


class Backlog:
    """Records of ``topic`` on this worker's partitions past the last one taken: each
    partition's high watermark (from the consumer's last fetch, no request) minus the
    last offset a window took from it. Partitions not taken from yet count 0, and so does
    everything while the group rebalances: Faust then waits for every record delivered
    to be acknowledged, and a batch held open would hold up the whole group."""

    def __init__(self, app: _App, topic: str) -> None:
        self.app = app
        self.topic = topic
        self.last: dict[int, int] = {}

    def __call__(self, window: list[Any]) -> int:
        for record in window:
            message: _Message = record.message
            if message.offset > self.last.get(message.partition, -1):
                self.last[message.partition] = message.offset
        if self.app.rebalancing:
            return 0
        consumer: _Consumer = self.app.consumer
        behind = 0
        for tp in consumer.assignment():
            taken = self.last.get(tp.partition)
            if tp.topic != self.topic or taken is None:
                continue
            end = consumer.highwater(tp)
            if end is not None:
                behind += max(0, end - 1 - taken)
        return behind
