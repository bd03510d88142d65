"""Replaying what Redis lost (issue 15): at every assignment, before anything is fetched,
each partition's committed offset is set back to the lowest fence Redis holds for it.

Offsets are committed once Redis has acknowledged a batch. A Redis that then loses
acknowledged writes (a failover to a lagging replica, a restart without its append-only
file, an older snapshot restored) holds a prefix of what it acknowledged, as if the
worker had crashed earlier, but Kafka's committed offsets have passed the records of
the lost suffix: nothing would ever apply them again. A running worker learns of it at
its next begin or audit (``streams.state.progress.LostWrites``) and stops; whichever
worker is assigned the partitions next finds committed offsets ahead of the fences here
and commits the fences back before Faust seeks to the committed offsets, so the log
replays the lost suffix through the ordinary redo (the fences skip what survived).

Faust sends ``on_rebalance_complete`` after the partitions are assigned and paused and
before it seeks them to their committed offsets and resumes them, so no record of the
old position is in flight when the commit moves back. Records a path must replay that
retention already deleted cannot be replayed: said loudly, with the one way out.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams import metrics
from streams.state.progress import Progress
from streams.worker.retry import through_outages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rewind:
    """Records ``start`` .. ``committed - 1`` of a partition are to be read again."""

    topic: str
    partition: int
    committed: int
    start: int

    @property
    def records(self) -> int:
        return self.committed - self.start


def rewinds(
    committed: Mapping[tuple[str, int], int | None], fences: Mapping[tuple[str, int], list[int]]
) -> list[Rewind]:
    """Partitions whose committed offset passed the lowest fence of the paths reading
    them (``fences``: (topic, partition) -> each path's fence, -1 for none): those
    paths lost what Kafka says is done. A partition never committed has nothing to
    rewind; one ahead of its committed offset is normal (Redis goes first)."""
    out = []
    for (topic, partition), offset in sorted(committed.items()):
        paths = fences.get((topic, partition))
        if offset is None or offset <= 0 or not paths:
            continue
        start = min(paths) + 1
        if start < offset:
            out.append(Rewind(topic, partition, offset, start))
    return out


class Rewinder:
    """Knows which progress names read which topic; installed on the Faust app."""

    def __init__(self, store: Progress) -> None:
        self.store = store
        self.paths: dict[str, list[str]] = {}  # topic -> progress names reading it

    def watch(self, topic: str, progress_name: str) -> None:
        self.paths.setdefault(topic, []).append(progress_name)

    def install(self, app: Any) -> None:
        @app.on_rebalance_complete.connect
        async def rebalanced(_app: Any, **_kw: Any) -> None:
            await self.rewind(app.consumer)

    async def fences(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], list[int]]:
        out: dict[tuple[str, int], list[int]] = {}
        for topic, partition in partitions:
            for name in self.paths[topic]:
                read = functools.partial(self.store.progress, name, partition)
                fence, _intent = await through_outages("rewind", read)
                out.setdefault((topic, partition), []).append(fence)
        return out

    async def rewind(self, consumer: Any) -> list[Rewind]:
        assigned = {(tp.topic, tp.partition): tp for tp in consumer.assignment()}
        mine = sorted(key for key in assigned if key[0] in self.paths)
        if not mine:
            return []
        committed_now = await consumer.seek_to_committed()  # Faust seeks there again next
        committed = {
            (tp.topic, tp.partition): offset
            for tp, offset in committed_now.items()
            if (tp.topic, tp.partition) in mine
        }
        plan = rewinds(committed, await self.fences(mine))
        if not plan:
            return []
        tps = [assigned[(r.topic, r.partition)] for r in plan]
        earliest = await consumer.earliest_offsets(*tps)
        for r in plan:
            first = earliest.get(assigned[(r.topic, r.partition)], 0) or 0
            if first > r.start:
                metrics.OFFSET_HOLES.labels(r.topic).inc(first - r.start)
                log.critical(
                    "%s partition %d: Redis lost records %d..%d and the log no longer holds "
                    "%d..%d (retention): the state cannot be repaired from the log; run "
                    "`streamrec rebuild --yes`",
                    r.topic, r.partition, r.start, r.committed - 1, r.start, first - 1,
                )  # fmt: skip
            why = (
                "Redis lost acknowledged writes (a failover to a lagging replica, a restart "
                "without its append-only file, an older snapshot)"
            )
            if r.start == 0:  # no progress at all: also what a path enabled since looks like
                why = f"a path reading it is new, or {why}"
            log.warning(
                "%s partition %d: Redis holds progress up to offset %d, Kafka's committed "
                "offset is %d: %s; replaying %d records",
                r.topic, r.partition, r.start - 1, r.committed, why, r.records,
            )  # fmt: skip
            metrics.REWINDS.labels(r.topic).inc()
            metrics.REWOUND_RECORDS.labels(r.topic).inc(r.records)
        # Faust's own commit call (the one its acknowledgements go through): committing
        # backwards is allowed by Kafka, and Faust seeks to the committed offsets next.
        # The seek here too: that one skips a committed offset of 0 (aiokafka seeks only
        # to positive ones), which is where a Redis that came back empty must start.
        offsets = {assigned[(r.topic, r.partition)]: r.start for r in plan}
        if not await consumer._commit(offsets):
            raise RuntimeError(f"could not commit the rewound offsets {offsets}")
        for tp, start in offsets.items():
            await consumer.seek(tp, start)
        return plan
