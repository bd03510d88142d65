"""The catalogue agent: keeps each item's title and attributes from the ``items`` topic."""

from __future__ import annotations

import json
from typing import Any

import faust

from streams import keys, metrics
from streams.schemas.dlq import dead_letter_headers
from streams.schemas.errors import InvalidEvent
from streams.schemas.items import parse_item
from streams.settings import WorkerSettings
from streams.storage import Store


def register(app: faust.App, settings: WorkerSettings, store: Store) -> Any:
    items = app.topic(settings.topics.items, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(settings.topics.dlq, key_serializer="raw", value_serializer="raw")

    @app.agent(items, name="catalogue")
    async def catalogue(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            if message.value is None:  # tombstone: the item is gone
                if message.key:
                    await store.redis.delete(keys.item_meta(message.key.decode()))
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
            await store.redis.hset(
                keys.item_meta(item.item_id),
                mapping={"title": item.title, "attributes": json.dumps(item.attributes)},
            )

    return catalogue
