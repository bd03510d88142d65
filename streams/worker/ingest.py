"""The ingest agent: validates every ``ratings`` record and re-keys it by item.

It never raises on input: whatever the bytes are, the record is either forwarded or
dead-lettered with a reason. Records are acknowledged one by one, only after their send
(forward or dead letter) is delivered, so a worker that dies half-way leaves Kafka's
committed offset before every record it has not handed on (duplicates that a restart may
forward are recognised downstream by their source offset).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import faust

from streams import metrics
from streams.schemas.errors import InvalidEvent
from streams.schemas.ratings import RatingEvent, check_key, parse_rating
from streams.settings import EventLimits, WorkerSettings
from streams.worker.dead_letters import DeadLetters, unexpected
from streams.worker.guard import fail_stop


def parse_record(message: Any, limits: EventLimits) -> RatingEvent:
    """The one way every path reads a ``ratings`` record: the same record gives the same
    answer everywhere (``ts`` is bounded by the record's own timestamp, not a clock)."""
    try:
        event = parse_rating(message.value, limits, message.timestamp or None)
        return check_key(message.key, event)
    except InvalidEvent:
        raise
    except Exception as exc:  # a parser bug: still only this record's problem
        raise unexpected(exc) from exc


def register(app: faust.App, settings: WorkerSettings, by_item: faust.TopicT) -> Any:
    topics = settings.topics
    ratings = app.topic(topics.ratings, key_serializer="raw", value_serializer="raw")
    dead_letters = DeadLetters(app, settings)

    @fail_stop("ingest", app)
    async def ingest(stream: faust.StreamT) -> None:
        batches = stream.noack_take(settings.batch_max, settings.batch_within_s)  # type: ignore[attr-defined]
        async for batch in batches:
            started = time.perf_counter()
            deliveries = []
            dead = 0
            for event in batch:
                message = event.message
                try:
                    rating = parse_record(message, settings.limits)
                except InvalidEvent as error:
                    deliveries.append(await dead_letters.send(message, error))
                    dead += 1
                    continue
                body = {
                    "u": rating.user_id,
                    "i": rating.item_id,
                    "r": rating.rating,
                    "o": message.offset,
                    "ts": rating.ts,
                    "pt": message.timestamp or time.time(),
                }
                deliveries.append(
                    await by_item.send(key=rating.item_id.encode(), value=json.dumps(body).encode())
                )
            if deliveries:
                await asyncio.gather(*deliveries)
            for event in batch:
                await stream.ack(event)  # delivered: now Kafka's committed offset may pass it
                message = event.message
                metrics.processed[(message.topic, message.partition)] = message.offset
            metrics.EVENTS.labels("valid").inc(len(batch) - dead)
            metrics.EVENTS.labels("dead_lettered").inc(dead)
            metrics.BATCH_SIZE.observe(len(batch))
            metrics.BATCH_SECONDS.labels("ingest").observe(time.perf_counter() - started)

    return app.agent(ratings, name="ingest")(ingest)
