"""Topic specifications, idempotent creation, start-up checks and counting records back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.settings import KafkaConnection, TopicSettings

RETAIN_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(topics: TopicSettings) -> list[TopicSpec]:
    """The ratings log is the source of truth (``streamrec rebuild`` replays it): kept forever."""
    rf = topics.replication_factor
    return [
        TopicSpec(topics.ratings, topics.ratings_partitions, rf, dict(RETAIN_FOREVER)),
        TopicSpec(topics.items, topics.items_partitions, rf, {"cleanup.policy": "compact"}),
        TopicSpec(topics.dlq, topics.dlq_partitions, rf, {"retention.ms": str(30 * 86_400_000)}),
    ]


class TopicMismatch(RuntimeError):
    """A topic is missing or has other partitions than configured: the worker must not start."""


def _admin(kafka: KafkaConnection) -> AdminClient:
    return AdminClient(dict(kafka.confluent_config()))


def create_topics(kafka: KafkaConnection, specs: list[TopicSpec], timeout: float = 30) -> dict:
    """Create what is missing; returns {name: "created" | "exists"}. Safe to run again."""
    admin = _admin(kafka)
    existing = admin.list_topics(timeout=timeout).topics
    outcome = {spec.name: "exists" for spec in specs if spec.name in existing}
    new = [
        NewTopic(s.name, s.partitions, s.replication_factor, config=s.config)
        for s in specs
        if s.name not in existing
    ]
    if new:
        for name, future in admin.create_topics(new, operation_timeout=timeout).items():
            try:
                future.result()
                outcome[name] = "created"
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise
                outcome[name] = "exists"
    check_topics(kafka, specs, timeout)
    return outcome


def check_topics(kafka: KafkaConnection, specs: list[TopicSpec], timeout: float = 30) -> None:
    metadata = _admin(kafka).list_topics(timeout=timeout).topics
    problems = []
    for spec in specs:
        if spec.name not in metadata:
            problems.append(f"topic {spec.name!r} does not exist (run: streamrec topics create)")
        elif (actual := len(metadata[spec.name].partitions)) != spec.partitions:
            problems.append(
                f"topic {spec.name!r} has {actual} partitions, configured {spec.partitions}"
            )
    if problems:
        raise TopicMismatch("; ".join(problems))


def delete_topics(kafka: KafkaConnection, names: list[str], timeout: float = 30) -> None:
    admin = _admin(kafka)
    existing = admin.list_topics(timeout=timeout).topics
    doomed = [n for n in names if n in existing]
    for future in admin.delete_topics(doomed, operation_timeout=timeout).values():
        future.result()


def end_offsets(kafka: KafkaConnection, topic: str, timeout: float = 10) -> dict[int, int]:
    """High watermark per partition: where the next record produced will land."""
    consumer = Consumer({**kafka.confluent_config(), "group.id": "streamrec-offsets"})
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def count_records(
    kafka: KafkaConnection,
    topic: str,
    start: dict[int, int] | None = None,
    timeout: float = 60,
) -> int:
    """Read every record from ``start`` (default: the beginning) to the current end; count them."""
    stop = end_offsets(kafka, topic)
    begin = start or dict.fromkeys(stop, 0)
    pending = {p for p in stop if stop[p] > begin.get(p, 0)}
    consumer = Consumer(
        {
            **kafka.confluent_config(),
            "group.id": "streamrec-count",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, begin.get(p, 0)) for p in pending])
    count = 0
    try:
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                partition, offset = message.partition(), message.offset()
                if message.error() or partition is None or offset is None:
                    continue
                if offset < stop[partition]:
                    count += 1
                if offset >= stop[partition] - 1:
                    pending.discard(partition)
        return count
    finally:
        consumer.close()
