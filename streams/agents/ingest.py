"""The ingest agent: validates every ``ratings`` record; refused ones go to the DLQ.

It never raises on input: whatever the bytes are, the record is either accepted or
dead-lettered with a reason, and the batch is acknowledged only after its dead letters
are delivered, so nothing is lost if the worker dies half-way.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust

from streams import metrics
from streams.schemas.dlq import dead_letter_headers
from streams.schemas.errors import InvalidEvent
from streams.schemas.ratings import RatingEvent, parse_rating
from streams.settings import WorkerSettings


def register(app: faust.App, settings: WorkerSettings) -> Any:
    topics = settings.topics
    ratings = app.topic(topics.ratings, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(topics.dlq, key_serializer="raw", value_serializer="raw")

    @app.agent(ratings, name="ingest")
    async def ingest(stream: faust.StreamT) -> None:
        batches = stream.take_events(settings.batch_max, settings.batch_within_s)  # type: ignore[attr-defined]
        async for batch in batches:
            started = time.perf_counter()
            valid: list[RatingEvent] = []
            deliveries = []
            for event in batch:
                message = event.message
                try:
                    valid.append(parse_rating(message.value, settings.limits))
                except InvalidEvent as error:
                    headers = dead_letter_headers(
                        error, message.topic, message.partition, message.offset
                    )
                    deliveries.append(
                        await dlq.send(key=message.key, value=message.value, headers=headers)
                    )
                    metrics.DEAD_LETTERS.labels(error.reason.value).inc()
            if deliveries:
                await asyncio.gather(*deliveries)
            metrics.EVENTS.labels("valid").inc(len(valid))
            metrics.EVENTS.labels("dead_lettered").inc(len(deliveries))
            metrics.BATCH_SIZE.observe(len(batch))
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    return ingest
