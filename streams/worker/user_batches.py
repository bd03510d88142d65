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
from streams.state.progress import Progress
from streams.worker.batching import Cut, PartitionBatcher
from streams.worker.guard import fail_stop
from streams.worker.ingest import parse_record
from streams.worker.retry import through_outages


class UserBatchEngine(Protocol):
    @property
    def progress(self) -> Progress: ...

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
    """Apply the batch; a redo of a crashed batch, and any retry after a failed attempt
    (whose plan may be half-applied already), reads the recorded plan instead of planning
    again on state the first attempt moved."""
    attempts = 0

    async def attempt() -> Any:
        nonlocal attempts
        attempts += 1
        redo: dict[int, str] = {}
        for p in portions:
            if p.partition in redoing or attempts > 1:
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
            for cut in await batcher.cut(batch, stream.ack):  # a redo, then what follows
                await apply_cut(stream, cut)

    async def apply_cut(stream: faust.StreamT, cut: list[Cut]) -> None:
        started = time.perf_counter()
        portions = []
        for c in cut:
            decoded = [decode_user_event(e, settings) for e in c.events]
            portions.append(UserPortion(c.partition, c.end, [e for e in decoded if e]))
        redoing = {c.partition for c in cut if c.redo}
        result = await _until_applied(engine, progress_name, portions, redoing, stage)
        batcher.applied({p.partition: p.end for p in portions})
        for p in portions:
            processed[(topic_name, p.partition)] = p.end
        try:
            await engine.finish(result)
        except RedisError:  # derived lists: the next event of the user rewrites them
            metrics.REDIS_ERRORS.labels(f"{stage}-lists").inc()
        for c in cut:
            for event in c.events:
                await stream.ack(event)
        metrics.BATCH_SECONDS.labels(stage).observe(time.perf_counter() - started)

    apply.__name__ = name  # Faust names the agent after the function
    return app.agent(ratings, name=name)(fail_stop(stage, app)(apply))
