"""Dead-lettering a refused record: one place for the DLQ send, its metric and its log line."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import faust

from streams import metrics
from streams.logs import event_id_of
from streams.schemas.dlq import dead_letter_headers, dead_letter_value
from streams.schemas.errors import InvalidEvent, Reason
from streams.settings import WorkerSettings

log = logging.getLogger(__name__)


def unexpected(exc: Exception) -> InvalidEvent:
    """A parser failure that is not an :class:`InvalidEvent` is a bug of ours, but the
    record is still dead-lettered (with the exception's type) rather than crashing."""
    return InvalidEvent(Reason.UNEXPECTED, f"{type(exc).__name__}: {str(exc)[:200]}")


class DeadLetters:
    def __init__(self, app: faust.App, settings: WorkerSettings) -> None:
        self.topic = app.topic(settings.topics.dlq, key_serializer="raw", value_serializer="raw")

    async def send(self, message: Any, error: InvalidEvent) -> Awaitable[Any]:
        """Queue the record, unchanged, with its reason; returns the delivery to await
        before the record may be acknowledged."""
        headers = dead_letter_headers(error, message.topic, message.partition, message.offset)
        value, headers = dead_letter_value(message.value, headers)
        delivery = await self.topic.send(key=message.key, value=value, headers=headers)
        metrics.DEAD_LETTERS.labels(error.reason.value).inc()
        log.warning(
            "dead-lettered",
            extra={
                "fields": {
                    "event_id": event_id_of(message.value),
                    "reason": error.reason.value,
                    "detail": error.detail[:200],
                    "source": f"{message.topic}/{message.partition}/{message.offset}",
                }
            },
        )
        return delivery
