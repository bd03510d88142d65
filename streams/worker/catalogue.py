"""The catalogue agent: keeps each item's title and attributes from the ``items`` topic
and, per batch of catalogue changes, the content similar lists (``streams.engines.hybrid``).
Writes are idempotent (the latest record of an item wins), so at-least-once is exact;
records are acknowledged only once their batch is stored or dead-lettered, and each
partition's fence is moved after the store, so a Redis that loses the catalogue has it
replayed from the log (``streams.worker.rewind``)."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.engines.hybrid import HybridEngine
from streams.schemas.errors import InvalidEvent, Reason
from streams.schemas.items import parse_item
from streams.settings import WorkerSettings
from streams.worker.dead_letters import DeadLetters, unexpected
from streams.worker.guard import fail_stop
from streams.worker.retry import through_outages
from streams.worker.rewind import Rewinder

log = logging.getLogger(__name__)


def register(
    app: faust.App, settings: WorkerSettings, engine: HybridEngine, rewinder: Rewinder
) -> Any:
    topic = settings.topics.items
    items = app.topic(topic, key_serializer="raw", value_serializer="raw")
    dead_letters = DeadLetters(app, settings)
    rewinder.watch(topic, topic)  # the catalogue's fences are named after its topic

    @app.agent(items, name="catalogue")
    @fail_stop("catalogue", app)
    async def catalogue(stream: faust.StreamT) -> None:
        async for batch in stream.noack_take(settings.batch_max, within=0.5):  # type: ignore[attr-defined]
            changes: dict[str, tuple[str, dict[str, Any]] | None] = {}
            deliveries = []
            for event in batch:
                message = event.message
                try:
                    change = _change(message, settings)
                except InvalidEvent as error:
                    deliveries.append(await dead_letters.send(message, error))
                    continue
                except Exception as exc:  # a parser bug: still only this record's problem
                    deliveries.append(await dead_letters.send(message, unexpected(exc)))
                    continue
                if change is not None:
                    changes[change[0]] = change[1]
            if deliveries:
                await asyncio.gather(*deliveries)
            if changes:
                await _store(changes, engine, settings)
            ends = {e.message.partition: e.message.offset for e in batch}  # offset order
            await through_outages(
                "catalogue", functools.partial(engine.progress.advance, topic, ends)
            )
            for event in batch:
                await stream.ack(event)

    return catalogue


def _change(
    message: Any, settings: WorkerSettings
) -> tuple[str, tuple[str, dict[str, Any]] | None] | None:
    """(item id, (title, attributes) or None for a tombstone), or None for a keyless
    tombstone, which names nothing to remove."""
    if message.value is None:  # tombstone: the item is gone
        if not message.key:
            return None
        try:
            return message.key.decode("utf-8"), None
        except UnicodeDecodeError:
            raise InvalidEvent(Reason.BAD_TEXT, "a tombstone's key is not UTF-8") from None
    item = parse_item(message.value, settings.limits)
    return item.item_id, (item.title, item.attributes)


async def _store(
    changes: dict[str, tuple[str, dict[str, Any]] | None],
    engine: HybridEngine,
    settings: WorkerSettings,
) -> None:
    # the catalogue is the source of truth: retry through outages
    put = functools.partial(engine.store.put_items, changes)
    await through_outages("catalogue", put)
    if settings.content.enabled:
        try:
            await engine.rescore_content()
        except RedisError as exc:  # derived: the next catalogue change rewrites
            metrics.REDIS_ERRORS.labels("content-lists").inc()
            log.warning("content lists not written: %s", exc)
