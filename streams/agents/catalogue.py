"""The catalogue agent: keeps each item's title and attributes from the ``items`` topic
and, per batch of catalogue changes, the content similar lists (``streams.hybrid_engine``).
Writes are idempotent (the latest record of an item wins), so at-least-once is exact."""

from __future__ import annotations

import functools
import logging
from typing import Any

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.agents.retry import through_outages
from streams.hybrid_engine import HybridEngine
from streams.schemas.dlq import dead_letter_headers
from streams.schemas.errors import InvalidEvent
from streams.schemas.items import parse_item
from streams.settings import WorkerSettings

log = logging.getLogger(__name__)


def register(app: faust.App, settings: WorkerSettings, engine: HybridEngine) -> Any:
    items = app.topic(settings.topics.items, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(settings.topics.dlq, key_serializer="raw", value_serializer="raw")

    @app.agent(items, name="catalogue")
    async def catalogue(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(settings.batch_max, within=0.5):  # type: ignore[attr-defined]
            changes: dict[str, tuple[str, dict[str, Any]] | None] = {}
            for event in batch:
                message = event.message
                if message.value is None:  # tombstone: the item is gone
                    if message.key:
                        changes[message.key.decode()] = None
                    continue
                try:
                    item = parse_item(message.value, settings.limits)
                except InvalidEvent as error:
                    headers = dead_letter_headers(
                        error, message.topic, message.partition, message.offset
                    )
                    await dlq.send(key=message.key, value=message.value, headers=headers)
                    metrics.DEAD_LETTERS.labels(error.reason.value).inc()
                    continue
                changes[item.item_id] = (item.title, item.attributes)
            if not changes:
                continue
            # the catalogue is the source of truth: retry through outages
            put = functools.partial(engine.store.put_items, changes)
            await through_outages("catalogue", put)
            if settings.content:
                try:
                    await engine.rescore_content()
                except RedisError as exc:  # derived: the next catalogue change rewrites
                    metrics.REDIS_ERRORS.labels("content-lists").inc()
                    log.warning("content lists not written: %s", exc)

    return catalogue
