"""``streamrec rebuild``: drop the engine's Redis state and replay ``ratings`` from the start,
with the partition count configured (the only safe way to change it).

Run it with every worker stopped (it refuses a group with members) and, to change the
partition count, with the producers paused. In order, each step safe to run again:

1. When the configured count of ``ratings`` differs from its topic, or from the count the
   state was built with (partitions added in place), the log is rewritten: copied as is
   into ``<ratings>.rebuild-copy``, checked, the topic recreated with the new count and
   the copy produced back with each record's key, value, headers and timestamp, merged
   across partitions by timestamp (each partition's own order kept). Afterwards each
   user's events are again in one partition, in order, so the offsets of a user are one
   sequence, as the engines assume (docs/algorithm.md). A marker in Redis says when the
   copy is complete; a rebuild cut short resumes from it.
2. The internal by-item topic is deleted and created again with the new count (its
   records were applied to the state that is dropped).
3. The group's ``items``, ``ratings`` and by-item offsets go to the beginning.
4. Every key of the layout version is deleted, the recorded partition layout with it; the
   next ``streamrec worker`` records the new one and rebuilds everything from the logs.
"""

from __future__ import annotations

import heapq
import sys
import time
from collections import deque

import redis
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from streams.settings import WorkerSettings
from streams.state import keys
from streams.state.clients import sync_client
from streams.topics import (
    RETAIN_FOREVER,
    TopicSpec,
    by_item_spec,
    count_records,
    create_topics,
    delete_topics,
    end_offsets,
    layout_key,
    rebuild_copy_topic,
)


class RebuildRefused(RuntimeError):
    """Nothing was changed: the reason says what to do."""


def _redis(settings: WorkerSettings) -> redis.Redis:
    return sync_client(settings.redis)


def copy_marker() -> str:
    return keys.rebuild_copy()  # a hash: the worker's Redis ACL user runs the rebuild


def drop_state(settings: WorkerSettings) -> int:
    client = _redis(settings)
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=keys.all_keys_pattern(), count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def _partitions(admin: AdminClient, topic: str) -> int | None:
    topics = admin.list_topics(timeout=30).topics
    return len(topics[topic].partitions) if topic in topics else None


def refuse_a_live_group(settings: WorkerSettings, admin: AdminClient) -> None:
    for future in admin.describe_consumer_groups([settings.app_id]).values():
        try:
            members = future.result().members
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                raise
            members = []
        if members:
            raise RebuildRefused(
                f"group {settings.app_id!r} has {len(members)} members: stop every worker first"
            )


def needs_rewrite(settings: WorkerSettings, admin: AdminClient) -> bool:
    topic, wanted = settings.topics.ratings, settings.topics.ratings_partitions
    client = _redis(settings)
    if client.hexists(copy_marker(), "records") or _partitions(admin, rebuild_copy_topic(settings)):
        return True  # a rebuild cut short
    actual = _partitions(admin, topic)
    if actual is None:
        raise RebuildRefused(f"topic {topic!r} does not exist")
    if actual > wanted:
        raise RebuildRefused(
            f"topic {topic!r} has {actual} partitions and Kafka cannot remove any: "
            f"configure STREAMREC_TOPICS__RATINGS_PARTITIONS={actual} or more"
        )
    built = client.hget(layout_key(), "ratings")
    return actual != wanted or (built is not None and int(built) != actual)


class _Reader:
    """One partition read in order, a chunk at a time."""

    def __init__(self, settings: WorkerSettings, topic: str, partition: int) -> None:
        self.consumer = Consumer(
            {
                **settings.kafka.confluent_config(),
                "group.id": "streamrec-rebuild",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        self.consumer.assign([TopicPartition(topic, partition, 0)])
        self.buffer: deque[Message] = deque()
        self.done = False

    def head(self, timeout: float = 60) -> Message | None:
        deadline = time.monotonic() + timeout
        while not self.buffer and not self.done:
            if time.monotonic() > deadline:
                raise TimeoutError("no record within 60 s while copying the ratings log")
            for message in self.consumer.consume(num_messages=2000, timeout=1.0):
                error = message.error()
                if error is None:
                    self.buffer.append(message)
                elif error.code() == KafkaError._PARTITION_EOF:
                    self.done = True
                else:
                    raise RuntimeError(f"reading the ratings log: {error}")
        if self.done and not self.buffer:
            self.consumer.close()
        return self.buffer[0] if self.buffer else None


def _producer(settings: WorkerSettings) -> Producer:
    # librdkafka's default partitioner, as streams.producer.EventProducer: a user's
    # records land where the producers will put the user's next ones
    return Producer(
        {
            **settings.kafka.confluent_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
        }
    )


def copy_log(settings: WorkerSettings, source: str, target: str, keep_partition: bool) -> int:
    """Produce every record of ``source`` to ``target``; returns the number copied. With
    ``keep_partition`` record p goes to partition p, else partitions follow the key, and
    the partitions are merged by timestamp (each partition's own order kept: a user whose
    records were all in one partition keeps their order whatever the clocks said)."""
    readers = [_Reader(settings, source, p) for p in end_offsets(settings.kafka, source)]
    heap = []
    for p, reader in enumerate(readers):
        if (message := reader.head()) is not None:
            heap.append((message.timestamp()[1], p))
    heapq.heapify(heap)
    producer, failed, copied = _producer(settings), [], 0

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failed.append(err)

    while heap:
        _, p = heapq.heappop(heap)
        message = readers[p].buffer.popleft()
        while True:
            try:
                producer.produce(
                    target,
                    key=message.key(),
                    value=message.value(),
                    headers=message.headers(),
                    timestamp=max(message.timestamp()[1], 0),  # 0: none, now
                    partition=p if keep_partition else -1,  # -1: by the partitioner
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        copied += 1
        if (following := readers[p].head()) is not None:
            heapq.heappush(heap, (following.timestamp()[1], p))
    if producer.flush(120) or failed:
        raise RuntimeError(f"copying {source} to {target} failed: {failed[:1] or 'timeout'}")
    return copied


def _recreate(settings: WorkerSettings, spec: TopicSpec, timeout: float = 60) -> None:
    """Delete ``spec``'s topic if it exists and create it again (deletion is asynchronous:
    the creation is retried until the old topic is gone)."""
    delete_topics(settings.kafka, [spec.name])
    deadline = time.monotonic() + timeout
    while True:
        try:
            create_topics(settings.kafka, [spec])
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def rewrite_ratings(settings: WorkerSettings, admin: AdminClient) -> int:
    """Step 1: the ratings log in the configured partition count; returns its record count."""
    topics, copy = settings.topics, rebuild_copy_topic(settings)
    client = _redis(settings)
    if client.hget(copy_marker(), "records") is None:  # no complete copy yet: make one
        source = _partitions(admin, topics.ratings)
        assert source is not None
        spec = TopicSpec(copy, source, topics.replication_factor, dict(RETAIN_FOREVER))
        _recreate(settings, spec)
        copied = copy_log(settings, topics.ratings, copy, keep_partition=True)
        if count_records(settings.kafka, copy) != copied:
            raise RuntimeError(f"the copy {copy!r} does not hold all {copied} records")
        client.hset(copy_marker(), "records", copied)
    expected = int(client.hget(copy_marker(), "records") or 0)
    if _partitions(admin, copy) is not None:  # else it was deleted after a complete rewrite
        spec = TopicSpec(
            topics.ratings, topics.ratings_partitions, topics.replication_factor,
            dict(RETAIN_FOREVER),
        )  # fmt: skip
        _recreate(settings, spec)
        written = copy_log(settings, copy, topics.ratings, keep_partition=False)
        if written != expected or count_records(settings.kafka, topics.ratings) != expected:
            raise RuntimeError(f"{topics.ratings!r} does not hold the copy's {expected} records")
        delete_topics(settings.kafka, [copy])
    client.delete(copy_marker())
    return expected


def reset_offsets(settings: WorkerSettings, admin: AdminClient, attempts: int = 60) -> None:
    """Everything from the beginning; the by-item topic is new, and no offset of the
    deleted one may survive (``wait-idle`` would take it for progress)."""
    topics = settings.topics
    partitions = [TopicPartition(t, p, 0) for t in (topics.items, topics.ratings)
                  for p in range(_partitions(admin, t) or 0)]  # fmt: skip
    by_item = by_item_spec(settings)
    partitions += [TopicPartition(by_item.name, p, 0) for p in range(by_item.partitions)]
    request = ConsumerGroupTopicPartitions(settings.app_id, partitions)
    for attempt in range(attempts):  # a topic just created may not be known everywhere yet
        try:
            for future in admin.alter_consumer_group_offsets([request]).values():
                future.result()
            return
        except KafkaException as exc:
            if attempt == attempts - 1 or exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
            time.sleep(0.5)


def run(settings: WorkerSettings, yes: bool) -> int:
    if not yes:
        print("rebuild drops all streamrec state in Redis; stop every worker and pass --yes")
        return 2
    admin = AdminClient(dict(settings.kafka.confluent_config()))
    count = settings.topics.ratings_partitions
    try:
        refuse_a_live_group(settings, admin)
        if needs_rewrite(settings, admin):
            print(f"rebuild: rewriting {settings.topics.ratings!r} into {count} partitions")
            records = rewrite_ratings(settings, admin)
            print(f"rebuild: {settings.topics.ratings!r} holds its {records} records again")
        _recreate(settings, by_item_spec(settings))
        reset_offsets(settings, admin)
    except RebuildRefused as exc:
        print(f"rebuild: refused, nothing changed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # Kafka explains why (most often: workers still running)
        print(f"rebuild: failed, run it again to resume: {exc}", file=sys.stderr)
        return 1
    deleted = drop_state(settings)
    print(f"rebuild: ratings and {settings.by_item_topic!r} have {count} partitions; ", end="")
    print(f"deleted {deleted} keys; offsets reset.")
    print("start `streamrec worker` to rebuild from the ratings topic")
    return 0
