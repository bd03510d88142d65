"""Producing rating and item events with confluent-kafka, for applications and the CLI."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from confluent_kafka import Producer

from streams.schemas.items import ItemEvent
from streams.schemas.ratings import RatingEvent
from streams.settings import KafkaConnection


@dataclass
class DeliveryReport:
    produced: int = 0
    delivered: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.produced / self.seconds if self.seconds > 0 else 0.0


class EventProducer:
    """Idempotent producer: retries never duplicate a record inside Kafka.

    Ratings are keyed by user so that each user's events stay in order in one partition.
    Call :meth:`flush` (or use it as a context manager) before trusting the report.
    """

    def __init__(self, kafka: KafkaConnection, **overrides: str | int) -> None:
        config: dict[str, str | int | float | bool] = {
            **kafka.confluent_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
        }
        config.update(overrides)
        self._producer = Producer(config)
        self.report = DeliveryReport()
        self.last_error: str | None = None

    def _on_delivery(self, err: object, _msg: object) -> None:
        if err is None:
            self.report.delivered += 1
        else:
            self.report.failed += 1
            self.last_error = str(err)

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self.report.produced += 1
        self._producer.poll(0)

    def send_rating(self, topic: str, event: RatingEvent) -> None:
        self.send_raw(topic, event.key, event.encode())

    def send_item(self, topic: str, item: ItemEvent) -> None:
        self.send_raw(topic, item.key, item.encode())

    def flush(self, timeout: float = 60) -> DeliveryReport:
        remaining = self._producer.flush(timeout)
        if remaining:
            self.report.failed += remaining
            self.last_error = f"{remaining} records still undelivered after {timeout}s"
        return self.report

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.flush()


def paced(events: Iterable[RatingEvent], rate: float) -> Iterator[RatingEvent]:
    """Yield events at ``rate`` per second on average (0 = as fast as possible)."""
    if rate <= 0:
        yield from events
        return
    start = time.perf_counter()
    for n, event in enumerate(events):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield event
