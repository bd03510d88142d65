"""Producing validated rating events from HTTP to Kafka without blocking the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from confluent_kafka import KafkaException, Producer

from streams.settings import KafkaConnection


class AsyncProducer:
    """confluent-kafka's producer with delivery reports resolved as asyncio futures."""

    def __init__(self, kafka: KafkaConnection) -> None:
        self._producer = Producer(
            {**kafka.confluent_config(), "enable.idempotence": True, "linger.ms": 2}
        )
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def report(err: Any, _msg: Any) -> None:
            if err is None:
                loop.call_soon_threadsafe(_settle, done, None)
            else:
                loop.call_soon_threadsafe(_settle, done, KafkaException(err))

        self._producer.produce(topic, key=key, value=value, on_delivery=report)
        await done

    def close(self) -> None:
        self._producer.flush(10)
        self._stop.set()
        self._poller.join(timeout=5)


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
