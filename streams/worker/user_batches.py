"""One agent shape for every path that reads ``ratings`` directly (keyed by user, so each
user's events arrive in order at one place) and applies each batch exactly once
(``streams.worker.batching``): item-to-item and hybrid. Events it cannot parse are
skipped here: the ingest agent dead-letters them."""

from __future__ import annotations

import time
from typing import Any, Protocol

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.engines.itemcf import UserEvent, UserPortion
from streams.schemas.errors import InvalidEvent
from streams.settings import WorkerSettings
from streams.state.usercf import Store
from streams.worker.batching import PartitionBatcher
from streams.worker.guard import fail_stop
from streams.worker.ingest import parse_record
from streams.worker.retry import through_outages


class UserBatchEngine(Protocol):
    progress: Store

    async def apply_batch(
        self, progress_name: str, portions: list[UserPortion], redo: dict[int, str]
    ) -> Any: ...

    async def finish(self, result: Any) -> None: ...


def decode_user_event(event: Any, settings: WorkerSettings) -> UserEvent | None:
    message = event.message
    try:
        rating = parse_record(message, settings.limits)  # ingest decides the same
    except InvalidEvent:
        return None
    produced = message.timestamp or time.time()
    return UserEvent(rating.user_id, rating.item_id, rating.rating, message.offset, produced)


async def _until_applied(
    engine: UserBatchEngine, name: str, portions: list[UserPortion], redoing: set[int], stage: str
) -> Any:
    """Apply the batch; only a redo of a crashed batch has a recorded plan to read."""

    async def attempt() -> Any:
        redo: dict[int, str] = {}
        for p in portions:
            if p.partition in redoing:
                plan = await engine.progress.plan(name, p.partition)
                if plan is not None:
                    redo[p.partition] = plan
        return await engine.apply_batch(name, portions, redo)

    return await through_outages(stage, attempt)


def register(
    app: faust.App, settings: WorkerSettings, engine: UserBatchEngine, name: str, stage: str
) -> Any:
    """The agent ``name``; ``stage`` labels its metrics and names its progress hashes."""
    topic_name = settings.topics.ratings
    progress_name = f"{topic_name}#{stage}"
    batcher = PartitionBatcher(engine.progress, progress_name)
    ratings = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    batcher.forget_on_revoke(app, topic_name)
    processed = metrics.path_processed.setdefault(stage, {})

    async def apply(stream: faust.StreamT) -> None:
        async for batch in stream.noack_take(settings.batch_max, settings.batch_within_s):  # type: ignore[attr-defined]
            started = time.perf_counter()
            cut = await batcher.cut(batch, stream.ack)
            if not cut:
                continue
            portions = []
            for partition, end, units in cut:
                decoded = [decode_user_event(e, settings) for e in units]
                portions.append(UserPortion(partition, end, [e for e in decoded if e]))
            result = await _until_applied(engine, progress_name, portions, batcher.redoing, stage)
            batcher.applied({p.partition: p.end for p in portions})
            for p in portions:
                processed[(topic_name, p.partition)] = p.end
            try:
                await engine.finish(result)
            except RedisError:  # derived lists: the next event of the user rewrites them
                metrics.REDIS_ERRORS.labels(f"{stage}-lists").inc()
            for _p, _end, units in cut:
                for event in units:
                    await stream.ack(event)
            metrics.BATCH_SECONDS.labels(stage).observe(time.perf_counter() - started)

    apply.__name__ = name  # Faust names the agent after the function
    return app.agent(ratings, name=name)(fail_stop(stage, app)(apply))
