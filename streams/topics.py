"""Topic specifications, idempotent creation, start-up checks and counting records back.

The partition layout is part of the state: offsets are compared per (user, item) as one
sequence, which holds only while a user's events stay in one partition of ``ratings``
(docs/algorithm.md, "Exactly-once effect"). The worker records the partition counts of
``ratings`` and the by-item topic in Redis at its first start and refuses any other count
(:func:`check_partition_layout`); ``streamrec rebuild --yes`` is the way to change it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.settings import KafkaConnection, TopicSettings, WorkerSettings
from streams.state import keys

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


def by_item_spec(settings: WorkerSettings) -> TopicSpec:
    """The internal by-item topic: as many partitions as ``ratings`` (the worker declares
    it so too); its records are applied within seconds and never replayed (a rebuild
    recreates it), so it keeps the broker's default retention."""
    topics = settings.topics
    return TopicSpec(settings.by_item_topic, topics.ratings_partitions, topics.replication_factor)


def rebuild_copy_topic(settings: WorkerSettings) -> str:
    """Where ``streamrec rebuild`` keeps the ratings log while it rewrites it."""
    return f"{settings.topics.ratings}.rebuild-copy"


CHANGE_PROCEDURE = (
    "to change the partition count: pause the producers, wait for `streamrec wait-idle`, "
    "stop every worker, configure STREAMREC_TOPICS__RATINGS_PARTITIONS, run "
    "`streamrec rebuild --yes` (it rewrites the ratings log into the new count and "
    "recreates the by-item topic), start the workers, resume the producers "
    "(docs/deploy.md, Scaling out)"
)


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
    # a cluster's brokers learn of new topics one by one: the metadata asked of any one
    # of them may lag the creation for a moment
    deadline = time.monotonic() + timeout
    while True:
        try:
            check_topics(kafka, specs, max(1.0, deadline - time.monotonic()))
            return outcome
        except TopicMismatch:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def check_topics(kafka: KafkaConnection, specs: list[TopicSpec], timeout: float = 30) -> None:
    metadata = _admin(kafka).list_topics(timeout=timeout).topics
    problems = []
    for spec in specs:
        if spec.name not in metadata:
            problems.append(f"topic {spec.name!r} does not exist (run: streamrec topics create)")
        elif (actual := len(metadata[spec.name].partitions)) != spec.partitions:
            problems.append(
                f"topic {spec.name!r} has {actual} partitions, configured {spec.partitions} "
                f"({CHANGE_PROCEDURE})"
            )
    if problems:
        raise TopicMismatch("; ".join(problems))


def layout_key() -> str:
    return keys.partition_layout()


# What the state in Redis holds, beside its key layout: 2 = the counts the user-based
# baseline reads and the popular list copied from fenced counts (a state of revision 1
# lacks them, and no event rebuilds what it lacks). Recorded at the first start.
STATE_REVISION = 2


def revision_problems(recorded: dict[str, int]) -> list[str]:
    """Why state written by an older release cannot go on (empty ``recorded``: no state)."""
    built = recorded.get("revision", 1) if recorded else STATE_REVISION
    if built >= STATE_REVISION:
        return []
    return [
        f"the state in Redis was written by an older release (state revision {built}, this "
        f"one needs {STATE_REVISION}: every rating's, user's and item's counts and the popular "
        "list kept under the fences); stop every worker and run `streamrec rebuild --yes` "
        "to rebuild it from the log (docs/deploy.md, Upgrades and rebuilds)"
    ]


def layout_problems(recorded: dict[str, int], wanted: dict[str, int]) -> list[str]:
    """Why state built with the ``recorded`` partition counts cannot go on with ``wanted``."""
    return [
        f"the state in Redis was built with {recorded[name]} partitions of {name}, now "
        f"{count}: a user's later events would land in another partition with lower "
        "offsets and be dropped as duplicates"
        for name, count in wanted.items()
        if name in recorded and recorded[name] != count
    ]


def recorded_layout(client: Any) -> dict[str, int]:
    """The partition counts the state was built with (empty: no state yet)."""
    raw: dict[bytes, bytes] = client.hgetall(layout_key())
    return {name.decode(): int(count) for name, count in raw.items()}


def check_partition_layout(settings: WorkerSettings, timeout: float = 30) -> None:
    """Refuse to start on state built with other partition counts (or while a rebuild is
    unfinished); at the first start, create the by-item topic and record the counts."""
    from streams.state.clients import sync_client

    spec = by_item_spec(settings)
    metadata = _admin(settings.kafka).list_topics(timeout=timeout).topics
    client = sync_client(settings.redis)
    recorded = recorded_layout(client)
    problems = []
    if rebuild_copy_topic(settings) in metadata:
        copy = rebuild_copy_topic(settings)
        problems.append(f"`streamrec rebuild --yes` did not finish (topic {copy!r} exists)")
    if spec.name not in metadata:
        if recorded:
            problems.append(f"topic {spec.name!r} is gone but the state in Redis is not")
        else:
            create_topics(settings.kafka, [spec], timeout)
    elif (actual := len(metadata[spec.name].partitions)) != spec.partitions:
        problems.append(
            f"topic {spec.name!r} has {actual} partitions, configured {spec.partitions}"
        )
    wanted = {"ratings": settings.topics.ratings_partitions, "by_item": spec.partitions}
    if outdated := revision_problems(recorded):
        raise TopicMismatch("; ".join(problems + outdated))
    problems += layout_problems(recorded, wanted)
    if problems:
        raise TopicMismatch("; ".join(problems) + f"; {CHANGE_PROCEDURE}")
    if not recorded:
        client.hsetnx(layout_key(), "revision", STATE_REVISION)
    for name, count in wanted.items():
        client.hsetnx(layout_key(), name, count)  # a second worker starting at once agrees
    recorded = recorded_layout(client)
    if problems := layout_problems(recorded, wanted):
        raise TopicMismatch("; ".join(problems) + f"; {CHANGE_PROCEDURE}")


def delete_topics(kafka: KafkaConnection, names: list[str], timeout: float = 30) -> None:
    admin = _admin(kafka)
    existing = admin.list_topics(timeout=timeout).topics
    doomed = [n for n in names if n in existing]
    if not doomed:
        return
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
