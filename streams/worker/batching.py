"""Cutting a consumed batch into per-partition portions that a restart can cut again.

Per partition a fence says which offset is fully applied and, while a batch is being
applied, its end ("intent"); both live in a ``Progress`` store (Redis in the worker,
``streams.state.memory`` in tests). After a crash the half-applied batch is cut again at
exactly the same end, so the users and items whose own fences show it skip it and the
others apply it: nothing is counted twice or lost. Records past that end are cut in a
second round of the same call: on a quiet partition no later record would come to
carry them, and unacknowledged records would hold up every rebalance (Faust waits for
them). Shared by every agent that applies Kafka records to Redis state exactly once.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from streams.state.progress import Progress
from streams.worker.retry import through_outages


@dataclass
class Cut:
    """One partition's portion of a round: its events (offset order) and their end."""

    partition: int
    end: int
    events: list[Any]
    redo: bool = False  # repeats a crashed batch: its recorded plan applies


class PartitionCursor:
    """What of one partition is applied (fence) and which batch end a restart must reuse."""

    def __init__(self, fence: int, intent: int) -> None:
        self.fence = fence
        self.intent = intent if intent > fence else -1
        self.pending: list[Any] = []  # only while collecting the records up to the intent


class PartitionBatcher:
    def __init__(self, store: Progress, progress_name: str) -> None:
        self.store = store
        self.progress_name = progress_name  # names the per-partition progress hashes
        self.cursors: dict[int, PartitionCursor] = {}

    def forget(self, partition: int) -> None:
        """Drop what is known of a partition; its records in ``pending`` stay
        unacknowledged, so the committed offset is still before them."""
        self.cursors.pop(partition, None)

    def forget_on_revoke(self, app: Any, topic: str) -> None:
        """Drop the cursors of revoked partitions: their next owner reads the fences."""

        @app.on_partitions_revoked.connect
        async def forget(_app: Any, revoked: Any, **_kw: Any) -> None:
            for tp in revoked:
                if tp.topic == topic:
                    self.forget(tp.partition)

    async def cut(self, batch: list[Any], ack: Callable[[Any], Awaitable[Any]]) -> list[list[Cut]]:
        """Rounds to apply in order, each a batch (at most one portion per partition).

        Already applied events are acknowledged on the spot. A partition with a crashed
        batch yields the redo (up to the recorded end) in the first round and what
        follows it in the second; until its records reach that end it yields nothing
        and keeps them. Every other event is in the first round."""
        by_partition: dict[int, list[Any]] = {}
        for event in batch:
            by_partition.setdefault(event.message.partition, []).append(event)
        first: list[Cut] = []
        second: list[Cut] = []
        for partition, events in by_partition.items():
            cursor = self.cursors.get(partition)
            if cursor is None:
                # a Redis outage here must stall the path, not stop the worker
                read = functools.partial(self.store.progress, self.progress_name, partition)
                fence, intent = await through_outages("progress", read)
                cursor = self.cursors[partition] = PartitionCursor(fence, intent)
            for event in events:
                if event.message.offset <= cursor.fence:
                    await ack(event)  # applied before a restart
                else:
                    cursor.pending.append(event)
            if not cursor.pending:
                continue
            units, cursor.pending = cursor.pending, []
            if cursor.intent < 0:
                first.append(Cut(partition, units[-1].message.offset, units))
                continue
            if units[-1].message.offset < cursor.intent:
                cursor.pending = units  # keep collecting: the redo ends where the crash did
                continue
            redo = [e for e in units if e.message.offset <= cursor.intent]
            first.append(Cut(partition, cursor.intent, redo, redo=True))
            if rest := units[len(redo) :]:
                second.append(Cut(partition, rest[-1].message.offset, rest))
        return [r for r in (first, second) if r]

    def applied(self, ends: dict[int, int]) -> None:
        for partition, end in ends.items():
            cursor = self.cursors.get(partition)
            if cursor is not None:  # None: revoked meanwhile, the next owner reads Redis
                cursor.fence, cursor.intent = end, -1
