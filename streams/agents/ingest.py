"""The ingest agent: validates every ``ratings`` record and re-keys it by item.

It never raises on input: whatever the bytes are, the record is either forwarded or
dead-lettered with a reason, and the batch is acknowledged only after its sends are
delivered, so nothing is lost if the worker dies half-way (duplicates that a restart may
forward are recognised downstream by their source offset).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import faust

from streams import metrics
from streams.logs import event_id_of
from streams.schemas.dlq import dead_letter_headers
from streams.schemas.errors import InvalidEvent
from streams.schemas.ratings import parse_rating
from streams.settings import WorkerSettings

log = logging.getLogger(__name__)


def register(app: faust.App, settings: WorkerSettings, by_item: faust.TopicT) -> Any:
    topics = settings.topics
    ratings = app.topic(topics.ratings, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(topics.dlq, key_serializer="raw", value_serializer="raw")

    @app.agent(ratings, name="ingest")
    async def ingest(stream: faust.StreamT) -> None:
        batches = stream.take_events(settings.batch_max, settings.batch_within_s)  # type: ignore[attr-defined]
        async for batch in batches:
            started = time.perf_counter()
            deliveries = []
            dead = 0
            for event in batch:
                message = event.message
                try:
                    rating = parse_rating(message.value, settings.limits)
                except InvalidEvent as error:
                    headers = dead_letter_headers(
                        error, message.topic, message.partition, message.offset
                    )
                    deliveries.append(
                        await dlq.send(key=message.key, value=message.value, headers=headers)
                    )
                    metrics.DEAD_LETTERS.labels(error.reason.value).inc()
                    log.warning(
                        "dead-lettered",
                        extra={
                            "fields": {
                                "event_id": event_id_of(message.value),
                                "reason": error.reason.value,
                                "detail": error.detail,
                                "source": f"{message.topic}/{message.partition}/{message.offset}",
                            }
                        },
                    )
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
                message = event.message
                metrics.processed[(message.topic, message.partition)] = message.offset
            metrics.EVENTS.labels("valid").inc(len(batch) - dead)
            metrics.EVENTS.labels("dead_lettered").inc(dead)
            metrics.BATCH_SIZE.observe(len(batch))
            metrics.BATCH_SECONDS.labels("ingest").observe(time.perf_counter() - started)

    return ingest
