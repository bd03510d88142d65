"""Producing validated rating events from HTTP to Kafka without blocking the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from confluent_kafka import KafkaException, Producer

from streams.settings import KafkaConnection


class AsyncProducer:
    """confluent-kafka's producer with delivery reports resolved as asyncio futures.

    A send waits at most ``timeout_s``: librdkafka gives up on the message then
    (``message.timeout.ms``) and reports it failed, so the caller can answer 503 and the
    client retry, rather than wait out librdkafka's default of five minutes while the
    brokers are away."""

    def __init__(self, kafka: KafkaConnection, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self._producer = Producer(
            {
                **kafka.confluent_config(),
                "enable.idempotence": True,
                "linger.ms": 2,
                "message.timeout.ms": max(1, int(timeout_s * 1000)),
            }
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
        # the report comes by ``timeout_s``; the margin only guards against a lost one
        await asyncio.wait_for(done, self.timeout_s + 2.0)

    async def reachable(self, topic: str, timeout_s: float = 2.0) -> str | None:
        """None when a broker answers for ``topic``'s metadata within ``timeout_s``, else
        why not (for /readyz)."""
        try:
            meta = await asyncio.to_thread(self._producer.list_topics, topic, timeout_s)
        except KafkaException as exc:
            return str(exc.args[0]) if exc.args else "no broker answered"
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            return f"topic {topic}: {found.error if found is not None else 'missing'}"
        return None

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
