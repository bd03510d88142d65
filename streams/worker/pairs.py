"""The pairs agent: owns the items of its partitions, applies their events exactly once
(see ``streams.worker.batching``). Events are acknowledged to Kafka only after they are
applied, and only while this worker owns their partition (``owned``)."""

from __future__ import annotations

import json
import time
from typing import Any

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.engines.usercf import BatchResult, ByItemEvent, Engine, Portion
from streams.settings import WorkerSettings
from streams.worker.batching import Cut, PartitionBatcher, owned
from streams.worker.guard import fail_stop
from streams.worker.inflight import InFlight
from streams.worker.retry import through_outages
from streams.worker.rewind import Rewinder


def decode(event: Any) -> list[ByItemEvent]:
    """A by-item record's events: a pack (a list of rows, ``streams.worker.ratings``) or
    one event (an object, as forwarded before packing)."""
    body = json.loads(event.message.value)
    if isinstance(body, dict):
        return [ByItemEvent(body["u"], body["i"], body["r"], body["o"], body["ts"], body["pt"])]
    return [ByItemEvent(*row) for row in body]


def chunks(batch: list[Any], sizes: list[int], most: int) -> list[list[Any]]:
    """Consecutive runs of ``batch`` holding at most ``most`` events each (a record is
    never split; one larger than ``most`` is a run of its own). A consumed batch of packed
    records can hold far more events than a batch should: applied at once it blocked the
    event loop for seconds and moved no fence until its end."""
    runs: list[list[Any]] = [[]]
    count = 0
    for record, size in zip(batch, sizes, strict=True):
        if runs[-1] and count + size > most:
            runs.append([])
            count = 0
        runs[-1].append(record)
        count += size
    return [r for r in runs if r]


async def _until_applied(
    engine: Engine, topic: str, ends: dict[int, int], portions: list[Portion]
) -> BatchResult:
    async def attempt() -> BatchResult:
        await engine.store.begin(topic, ends)
        result = await engine.apply_batch(portions)
        await engine.store.commit(topic, ends, {p.partition: len(p.events) for p in portions})
        return result

    return await through_outages("pairs", attempt)


def register(
    app: faust.App,
    settings: WorkerSettings,
    by_item: faust.TopicT,
    engine: Engine,
    rewinder: Rewinder,
) -> Any:
    topic_name = settings.by_item_topic
    batcher = PartitionBatcher(engine.store, topic_name)
    rewinder.watch(topic_name, batcher.progress_name)

    batcher.follow_assignments(app, topic_name)
    flight: InFlight[list[ByItemEvent]] = InFlight(1, decode)
    flight.follow_revokes(app, topic_name)

    @app.agent(by_item, name="pairs")
    @fail_stop("pairs", app)
    async def pairs(stream: faust.StreamT) -> None:
        flight.ack = stream.ack
        async for batch in stream.noack_take(settings.batch_max, settings.batch_within_s):  # type: ignore[attr-defined]
            flight.add(batch)
            sizes = [len(flight.event(record)) for record in batch]
            for run in chunks(batch, sizes, settings.batch_max):
                for cut in await batcher.cut(run, flight.release):  # a redo, then the rest
                    await apply(cut)

    async def attempt(cut: list[Cut]) -> BatchResult:
        ends = {c.partition: c.end for c in cut}
        portions = [
            Portion(c.partition, c.end, [x for e in c.events for x in flight.event(e)]) for c in cut
        ]
        return await _until_applied(engine, topic_name, ends, portions)

    async def apply(cut: list[Cut]) -> None:
        started = time.perf_counter()
        done = await owned(batcher, cut, attempt, path="pairs")
        if done is None:
            return  # every partition of the cut is another worker's now: no ack
        cut, result = done.cut, done.result
        ends = {c.partition: c.end for c in cut}
        batcher.applied(ends)
        for partition, end in ends.items():
            metrics.processed[(topic_name, partition)] = end
        try:
            await engine.finish(result)
        except RedisError:  # lists are derived: queue nothing, the refresher retries
            metrics.REDIS_ERRORS.labels("lists").inc()
        for c in cut:
            for event in c.events:
                await flight.release(event)  # only now may Kafka's committed offset pass them
        metrics.BATCH_SECONDS.labels("pairs").observe(time.perf_counter() - started)

    return pairs
