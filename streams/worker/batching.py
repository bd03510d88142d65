"""Cutting a consumed batch into per-partition portions that a restart can cut again.

Per partition a fence in Redis says which offset is fully applied and, while a batch is
being applied, its end ("intent"). After a crash the half-applied batch is cut again at
exactly the same end, so the users and items whose own fences show it skip it and the
others apply it: nothing is counted twice or lost. Shared by every agent that applies
Kafka records to Redis state exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from streams.state.usercf import Store


class PartitionCursor:
    """What of one partition is applied (fence) and which batch end a restart must reuse."""

    def __init__(self, fence: int, intent: int) -> None:
        self.fence = fence
        self.intent = intent if intent > fence else -1
        self.pending: list[Any] = []


class PartitionBatcher:
    def __init__(self, store: Store, progress_name: str) -> None:
        self.store = store
        self.progress_name = progress_name  # names the per-partition progress hashes
        self.cursors: dict[int, PartitionCursor] = {}
        self.redoing: set[int] = set()  # partitions whose last cut repeats a crashed batch

    def forget(self, partition: int) -> None:
        self.cursors.pop(partition, None)

    def forget_on_revoke(self, app: Any, topic: str) -> None:
        """Drop the cursors of revoked partitions: their next owner reads the fences."""

        @app.on_partitions_revoked.connect
        async def forget(_app: Any, revoked: Any, **_kw: Any) -> None:
            for tp in revoked:
                if tp.topic == topic:
                    self.forget(tp.partition)

    async def cut(
        self, batch: list[Any], ack: Callable[[Any], Awaitable[Any]]
    ) -> list[tuple[int, int, list[Any]]]:
        """(partition, end, events) portions to apply now; already applied events are
        acknowledged on the spot, events past a pending redo wait for the next batch."""
        by_partition: dict[int, list[Any]] = {}
        for event in batch:
            by_partition.setdefault(event.message.partition, []).append(event)
        portions: list[tuple[int, int, list[Any]]] = []
        self.redoing = set()
        for partition, events in by_partition.items():
            cursor = self.cursors.get(partition)
            if cursor is None:
                fence, intent = await self.store.progress(self.progress_name, partition)
                cursor = self.cursors[partition] = PartitionCursor(fence, intent)
            for event in events:
                if event.message.offset <= cursor.fence:
                    await ack(event)  # applied before a restart
                else:
                    cursor.pending.append(event)
            if not cursor.pending:
                continue
            if cursor.intent >= 0:
                if cursor.pending[-1].message.offset < cursor.intent:
                    continue  # keep collecting: the redo must end where the crash did
                cut = [e for e in cursor.pending if e.message.offset <= cursor.intent]
                cursor.pending = cursor.pending[len(cut) :]
                portions.append((partition, cursor.intent, cut))
                self.redoing.add(partition)
                continue  # the rest waits for the next batch, after the redo
            units, cursor.pending = cursor.pending, []
            portions.append((partition, units[-1].message.offset, units))
        return portions

    def applied(self, ends: dict[int, int]) -> None:
        for partition, end in ends.items():
            self.cursors[partition].fence, self.cursors[partition].intent = end, -1
