"""The hybrid agent: reads ``ratings`` (keyed by user) and learns the embedding exactly
once per event (``streams.agents.batching``), then rewrites the acting users' content and
embedding lists. Events it cannot parse are skipped: the ingest agent dead-letters them."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.agents.batching import PartitionBatcher
from streams.agents.cooccur import decode_user_event
from streams.hybrid_engine import HybridEngine, HybridResult
from streams.item_engine import UserPortion
from streams.settings import WorkerSettings

log = logging.getLogger(__name__)


async def _until_applied(
    engine: HybridEngine, name: str, portions: list[UserPortion], redoing: set[int]
) -> HybridResult:
    """Apply the batch, retrying through Redis outages (the fences make a retry safe).
    A redone partition applies the plan its crashed attempt recorded."""
    delay = 0.1
    while True:
        try:
            redo: dict[int, bytes] = {}
            for p in portions:
                if p.partition in redoing:
                    plan = await engine.progress.plan(name, p.partition)
                    if plan is not None:
                        redo[p.partition] = plan.encode()
            return await engine.apply_batch(name, portions, redo)
        except RedisError as exc:
            metrics.REDIS_ERRORS.labels("hybrid").inc()
            log.warning("redis error, retrying the batch in %.1fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def register(app: faust.App, settings: WorkerSettings, engine: HybridEngine) -> Any:
    topic_name = settings.topics.ratings
    progress_name = f"{topic_name}#hybrid"
    batcher = PartitionBatcher(engine.progress, progress_name)
    ratings = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    batcher.forget_on_revoke(app, topic_name)

    @app.agent(ratings, name="hybrid")
    async def hybrid(stream: faust.StreamT) -> None:
        async for batch in stream.noack_take(settings.batch_max, settings.batch_within_s):  # type: ignore[attr-defined]
            started = time.perf_counter()
            cut = await batcher.cut(batch, stream.ack)
            if not cut:
                continue
            portions = []
            for partition, end, units in cut:
                decoded = [decode_user_event(e, settings) for e in units]
                portions.append(UserPortion(partition, end, [e for e in decoded if e]))
            result = await _until_applied(engine, progress_name, portions, batcher.redoing)
            batcher.applied({p.partition: p.end for p in portions})
            try:
                await engine.finish(result)
            except RedisError:  # derived lists: the next event of the user rewrites them
                metrics.REDIS_ERRORS.labels("hybrid-lists").inc()
            for _p, _end, units in cut:
                for event in units:
                    await stream.ack(event)
            metrics.BATCH_SECONDS.labels("hybrid").observe(time.perf_counter() - started)

    return hybrid
