"""Records delivered and not yet acknowledged: each one decoded once, acknowledged once.

Both agents hold a record over several batches at times (while the cutter collects a
crashed batch again), and the ``ratings`` agent hands each record to several paths; the
decode is kept until the record is acknowledged, and the acknowledgement waits until
every path has released it. A revoked partition's records come again from the committed
offset, so what was kept or counted for them is dropped."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from streams import metrics

T = TypeVar("T")

_ALL: weakref.WeakSet[InFlight[Any]] = weakref.WeakSet()


def records_held() -> int:
    """Records delivered to any agent of this process and not acknowledged yet: work in
    flight even while no batch has finished for a while (the refresher's idle test)."""
    return sum(len(flight.decoded) for flight in _ALL)


class QuietSince:
    """Whether the worker was quiet since the last look: no batch finished (no record
    handled by any agent) and none in flight (a batch may run longer than the interval
    between looks). The refresher and the fuser take the time of a quiet worker."""

    def __init__(self) -> None:
        self.previous: int | None = None

    def look(self) -> bool:
        processed = sum(metrics.processed.values())
        quiet = processed == self.previous and not records_held()
        self.previous = processed
        return quiet


def _key(record: Any) -> tuple[int, int]:
    return record.message.partition, record.message.offset


class InFlight(Generic[T]):
    """``decode`` of each record added, until all ``paths`` released it; then ``ack``
    (the agent's stream's, set when the agent starts)."""

    def __init__(self, paths: int, decode: Callable[[Any], T]) -> None:
        self.paths = paths
        self.decode = decode
        self.ack: Callable[[Any], Awaitable[Any]] | None = None
        self.decoded: dict[tuple[int, int], T] = {}
        self.counts: dict[tuple[int, int], int] = {}
        _ALL.add(self)

    def add(self, batch: list[Any]) -> None:
        for record in batch:
            self.decoded[_key(record)] = self.decode(record)

    def event(self, record: Any) -> T:
        return self.decoded[_key(record)]

    async def release(self, record: Any) -> None:
        key = _key(record)
        count = self.counts.pop(key, 0) + 1
        if count < self.paths:
            self.counts[key] = count
            return
        self.decoded.pop(key, None)
        assert self.ack is not None, "the agent sets ack before the first batch"
        await self.ack(record)

    def forget(self, partition: int) -> None:
        """A revoked partition's records come again, from the committed offset."""
        for key in [k for k in self.decoded if k[0] == partition]:
            del self.decoded[key]
        for key in [k for k in self.counts if k[0] == partition]:
            del self.counts[key]

    def follow_revokes(self, app: Any, topic: str) -> None:
        @app.on_partitions_revoked.connect
        async def revoked(_app: Any, revoked: Any, **_kw: Any) -> None:
            for tp in revoked:
                if tp.topic == topic:
                    self.forget(tp.partition)
