"""The item-to-item agent: reads ``ratings`` (keyed by user, so each user's events arrive
in order at one place), counts co-occurrences exactly once (``streams.agents.batching``),
then re-scores the rated items and the acting users' lists. Events it cannot parse are
skipped here: the ingest agent dead-letters them."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.agents.batching import PartitionBatcher
from streams.item_engine import ItemBatchResult, ItemEngine, UserEvent, UserPortion
from streams.schemas.errors import InvalidEvent
from streams.schemas.ratings import parse_rating
from streams.settings import WorkerSettings

log = logging.getLogger(__name__)


def decode_user_event(event: Any, settings: WorkerSettings) -> UserEvent | None:
    message = event.message
    try:
        rating = parse_rating(message.value, settings.limits)
    except InvalidEvent:
        return None
    produced = message.timestamp or time.time()
    return UserEvent(rating.user_id, rating.item_id, rating.rating, message.offset, produced)


async def _until_applied(
    engine: ItemEngine, name: str, portions: list[UserPortion], redoing: set[int]
) -> ItemBatchResult:
    """Apply the batch, retrying through Redis outages (the fences make a retry safe).
    Only a redo of a crashed batch has recorded decisions to read."""
    delay = 0.1
    while True:
        try:
            redo: dict[int, set[int]] = {}
            for p in portions:
                if p.partition not in redoing:
                    continue
                plan = await engine.progress.plan(name, p.partition)
                if plan is not None:
                    redo[p.partition] = set(json.loads(plan))
            return await engine.apply_batch(name, portions, redo)
        except RedisError as exc:
            metrics.REDIS_ERRORS.labels("item-cf").inc()
            log.warning("redis error, retrying the batch in %.1fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def register(app: faust.App, settings: WorkerSettings, engine: ItemEngine) -> Any:
    topic_name = settings.topics.ratings
    progress_name = f"{topic_name}#item-cf"
    batcher = PartitionBatcher(engine.progress, progress_name)
    ratings = app.topic(topic_name, key_serializer="raw", value_serializer="raw")

    batcher.forget_on_revoke(app, topic_name)

    @app.agent(ratings, name="cooccur")
    async def cooccur(stream: faust.StreamT) -> None:
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
            for p in portions:
                metrics.item_processed[(topic_name, p.partition)] = p.end
            try:
                await engine.finish(result)
            except RedisError:  # derived lists: the next event of the user rewrites them
                metrics.REDIS_ERRORS.labels("item-lists").inc()
            for _p, _end, units in cut:
                for event in units:
                    await stream.ack(event)
            metrics.BATCH_SECONDS.labels("item-cf").observe(time.perf_counter() - started)

    return cooccur
