"""The one agent on ``ratings``: every record is read once and parsed once, then handed to
every path that reads the user-keyed log.

- **forward**: valid events are re-keyed by item onto the by-item topic (the user-based
  path's pair sums need each item's raters at one owner), packed: one record per by-item
  partition and batch (``PACK_MAX`` events at most) instead of one per event, which made
  the hop cost a Faust pass and a send per event; a bad record is dead-lettered with its
  reason. Duplicates a restart may forward are recognised downstream by their source
  offset.
- **item-to-item** and **hybrid**: each applies its micro-batch exactly once behind its
  own per-partition fences (``streams.worker.batching``).

The paths run side by side on the same batch (one waits on Redis while another computes).
A record is acknowledged once, when every path has released it (forwarded and delivered,
applied, or found applied by a fence), so Kafka's committed offset never passes a record
that any path still needs. One Faust stream instead of one per path: each record used to
pass through Faust three times and be parsed three times (issue 14), and the slowest
path's full buffer held the others back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from typing import Any, Protocol

import faust
from aiokafka.partitioner import murmur2
from redis.exceptions import RedisError

from streams import metrics
from streams.engines.itemcf import UserEvent, UserPortion
from streams.schemas.errors import InvalidEvent
from streams.schemas.ratings import RatingEvent, check_key, parse_rating
from streams.settings import EventLimits, WorkerSettings
from streams.state.progress import Progress
from streams.worker.batching import Cut, PartitionBatcher, owned
from streams.worker.dead_letters import DeadLetters, unexpected
from streams.worker.gather import Backlog, gathered
from streams.worker.guard import fail_stop
from streams.worker.inflight import InFlight
from streams.worker.retry import through_outages
from streams.worker.rewind import Rewinder

PACK_MAX = 2_000  # events per by-item record: ~150 KB, well inside Kafka's 1 MB default
Parsed = UserEvent | InvalidEvent  # a record, read once: its event or why it is refused


def item_partition(item_id: str, partitions: int) -> int:
    """The by-item partition that owns an item: Kafka's own key partitioner (murmur2), so
    packed records land where single records keyed by the item always did."""
    return (murmur2(item_id.encode()) & 0x7FFFFFFF) % partitions


def parse_record(message: Any, limits: EventLimits) -> RatingEvent:
    """The one way a ``ratings`` record is read: the same record gives the same answer on
    every run (``ts`` is bounded by the record's own timestamp, not a clock)."""
    try:
        event = parse_rating(message.value, limits, message.timestamp or None)
        return check_key(message.key, event)
    except InvalidEvent:
        raise
    except Exception as exc:  # a parser bug: still only this record's problem
        raise unexpected(exc) from exc


class UserBatchEngine(Protocol):
    """An engine that applies micro-batches of the user-keyed log (item-to-item, hybrid)."""

    @property
    def progress(self) -> Progress: ...

    async def apply_batch(
        self, progress_name: str, portions: list[UserPortion], redo: dict[int, str]
    ) -> Any: ...

    async def finish(self, result: Any) -> None: ...


def parse_message(message: Any, limits: EventLimits) -> Parsed:
    """A ``ratings`` record as every path takes it: its event, or why it is refused."""
    try:
        rating = parse_record(message, limits)
    except InvalidEvent as error:
        return error
    produced = message.timestamp or time.time()
    return UserEvent(
        rating.user_id, rating.item_id, rating.rating, message.offset, produced, rating.ts
    )


class BatchPath:
    """One exactly-once path on the user-keyed log: cut, apply, list, release."""

    def __init__(self, topic: str, stage: str, engine: UserBatchEngine) -> None:
        self.topic, self.stage, self.engine = topic, stage, engine
        self.progress_name = f"{topic}#{stage}"
        self.batcher = PartitionBatcher(engine.progress, self.progress_name)
        self.processed = metrics.path_processed.setdefault(stage, {})

    async def run(self, batch: list[Any], flight: InFlight[Parsed]) -> None:
        for cut in await self.batcher.cut(batch, flight.release):  # a redo, then the rest
            await self.apply(cut, flight)

    async def apply(self, cut: list[Cut], flight: InFlight[Parsed]) -> None:
        started = time.perf_counter()
        done = await owned(
            self.batcher, cut, functools.partial(self.attempt, flight), path=self.stage
        )
        if done is None:
            return  # every partition of the cut is another worker's now: release nothing
        cut, result = done.cut, done.result
        self.batcher.applied({c.partition: c.end for c in cut})
        for c in cut:
            self.processed[(self.topic, c.partition)] = c.end
        try:
            await self.engine.finish(result)
        except RedisError:  # derived lists: the user's next event rewrites them
            metrics.REDIS_ERRORS.labels(f"{self.stage}-lists").inc()
        for c in cut:
            for event in c.events:
                await flight.release(event)
        metrics.BATCH_SECONDS.labels(self.stage).observe(time.perf_counter() - started)

    async def attempt(self, flight: InFlight[Parsed], cut: list[Cut]) -> Any:
        portions = []
        for c in cut:
            events = (flight.event(e) for e in c.events)
            portions.append(
                UserPortion(c.partition, c.end, [e for e in events if isinstance(e, UserEvent)])
            )
        return await self._until_applied(portions, {c.partition for c in cut if c.redo})

    async def _until_applied(self, portions: list[UserPortion], redoing: set[int]) -> Any:
        """Apply the batch; a redo of a crashed batch, and any retry after a failed attempt
        (whose plan may be half-applied already), reads the recorded plan instead of
        planning again on state the first attempt moved."""
        attempts = 0

        async def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            redo: dict[int, str] = {}
            for p in portions:
                if p.partition in redoing or attempts > 1:
                    plan = await self.engine.progress.plan(self.progress_name, p.partition)
                    if plan is not None:
                        redo[p.partition] = plan
            return await self.engine.apply_batch(self.progress_name, portions, redo)

        return await through_outages(self.stage, attempt)


def register(
    app: faust.App,
    settings: WorkerSettings,
    by_item: faust.TopicT,
    engines: dict[str, UserBatchEngine],
    rewinder: Rewinder,
) -> Any:
    """The ``ratings`` agent; ``engines`` maps each exactly-once path's stage name (its
    metrics label and progress name) to its engine."""
    topic = settings.topics.ratings
    ratings = app.topic(topic, key_serializer="raw", value_serializer="raw")
    dead_letters = DeadLetters(app, settings)
    paths = [BatchPath(topic, stage, engine) for stage, engine in engines.items()]
    partitions = settings.topics.ratings_partitions  # the by-item topic has as many

    for path in paths:
        path.batcher.follow_assignments(app, topic)
        rewinder.watch(topic, path.progress_name)
    flight: InFlight[Parsed] = InFlight(
        1 + len(paths), lambda record: parse_message(record.message, settings.limits)
    )
    flight.follow_revokes(app, topic)

    async def forward(batch: list[Any]) -> None:
        started = time.perf_counter()
        deliveries = []
        packs: dict[int, list[list[Any]]] = {}
        dead = 0
        for event in batch:
            message = event.message
            rating = flight.event(event)
            if isinstance(rating, InvalidEvent):
                deliveries.append(await dead_letters.send(message, rating))
                dead += 1
                continue
            row = [rating.user_id, rating.item_id, rating.rating, message.offset]
            packs.setdefault(item_partition(rating.item_id, partitions), []).append(
                [*row, rating.ts, rating.produced_at]
            )
        for partition, rows in packs.items():
            for start in range(0, len(rows), PACK_MAX):
                value = json.dumps(rows[start : start + PACK_MAX]).encode()
                deliveries.append(await by_item.send(value=value, partition=partition))
        if deliveries:
            await asyncio.gather(*deliveries)
        for event in batch:
            await flight.release(event)  # delivered: the forward path is done with it
        last = {event.message.partition: event.message.offset for event in batch}
        for partition, offset in last.items():  # offset order: each partition's last
            metrics.processed[(topic, partition)] = offset
        metrics.EVENTS.labels("valid").inc(len(batch) - dead)
        metrics.EVENTS.labels("dead_lettered").inc(dead)
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.BATCH_SECONDS.labels("ingest").observe(time.perf_counter() - started)

    async def agent(stream: faust.StreamT) -> None:
        flight.ack = stream.ack
        windows = stream.noack_take(settings.batch_max, settings.batch_within_s)  # type: ignore[attr-defined]
        backlog = Backlog(app, topic)
        async for batch in gathered(windows, settings.batch_max, backlog):
            flight.add(batch)
            await asyncio.gather(forward(batch), *(path.run(batch, flight) for path in paths))

    agent.__name__ = "ratings"
    return app.agent(ratings, name="ratings")(fail_stop("ratings", app)(agent))
