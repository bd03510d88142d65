"""The pairs agent: owns the items of its partitions, applies their events exactly once.

Per partition it keeps a fence in Redis (last offset fully applied) and, while a batch is
being applied, that batch's end ("intent"). After a crash the half-applied batch is cut
again at exactly the same end, so users and items whose fence already shows it skip it
and the others apply it: nothing is counted twice or lost. Events are acknowledged to
Kafka only after they are applied.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.engine import BatchResult, ByItemEvent, Engine, Portion
from streams.settings import WorkerSettings

log = logging.getLogger(__name__)


class PartitionCursor:
    """What of one partition is applied (fence) and which batch end a restart must reuse."""

    def __init__(self, fence: int, intent: int) -> None:
        self.fence = fence
        self.intent = intent if intent > fence else -1
        self.pending: list[Any] = []


def _decode(event: Any) -> ByItemEvent:
    body = json.loads(event.message.value)
    return ByItemEvent(body["u"], body["i"], body["r"], body["o"], body["ts"], body["pt"])


async def _until_applied(
    engine: Engine, topic: str, ends: dict[int, int], portions: list[Portion]
) -> BatchResult:
    """Apply the batch, retrying through Redis outages: the fences make a retry harmless,
    so an unreachable Redis stalls the worker (and raises the error counter and the lag)
    instead of killing it or losing the batch."""
    delay = 0.1
    while True:
        try:
            await engine.store.begin(topic, ends)
            result = await engine.apply_batch(portions)
            await engine.store.commit(topic, ends)
            return result
        except RedisError as exc:
            metrics.REDIS_ERRORS.labels("pairs").inc()
            log.warning("redis error, retrying the batch in %.1fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def register(
    app: faust.App, settings: WorkerSettings, by_item: faust.TopicT, engine: Engine
) -> Any:
    topic_name = settings.by_item_topic
    cursors: dict[int, PartitionCursor] = {}

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget(_app: Any, revoked: Any, **_kw: Any) -> None:
        for tp in revoked:
            if tp.topic == topic_name:
                cursors.pop(tp.partition, None)

    @app.agent(by_item, name="pairs")
    async def pairs(stream: faust.StreamT) -> None:
        async for batch in stream.noack_take(settings.batch_max, settings.batch_within_s):  # type: ignore[attr-defined]
            started = time.perf_counter()
            by_partition: dict[int, list[Any]] = {}
            for event in batch:
                by_partition.setdefault(event.message.partition, []).append(event)
            portions: list[tuple[int, int, list[Any]]] = []
            for partition, events in by_partition.items():
                cursor = cursors.get(partition)
                if cursor is None:
                    fence, intent = await engine.store.progress(topic_name, partition)
                    cursor = cursors[partition] = PartitionCursor(fence, intent)
                for event in events:
                    if event.message.offset <= cursor.fence:
                        await stream.ack(event)  # applied before a restart
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
                    continue  # the rest waits for the next batch, after the redo
                units, cursor.pending = cursor.pending, []
                portions.append((partition, units[-1].message.offset, units))
            if not portions:
                continue
            ends = {partition: end for partition, end, _units in portions}
            decoded = [Portion(p, end, [_decode(e) for e in units]) for p, end, units in portions]
            result = await _until_applied(engine, topic_name, ends, decoded)
            for partition, end in ends.items():
                cursors[partition].fence, cursors[partition].intent = end, -1
                metrics.processed[(topic_name, partition)] = end
            try:
                await engine.finish(result)
            except RedisError:  # lists are derived: queue nothing, the refresher retries
                metrics.REDIS_ERRORS.labels("lists").inc()
            for _p, _end, units in portions:
                for event in units:
                    await stream.ack(event)  # only now may Kafka's committed offset pass them
            metrics.BATCH_SECONDS.labels("pairs").observe(time.perf_counter() - started)

    return pairs
