"""``streamrec rebuild``: drop the engine's Redis state and replay ``ratings`` from the start.

Run it with every worker stopped (Kafka refuses to move a live group's offsets). It deletes
every key of the layout version, moves the group's ``items`` and ``ratings`` offsets to the
beginning (the catalogue is state too) and its internal by-item offsets to the end (those
records were already applied to the state that is being dropped); the next ``streamrec
worker`` rebuilds everything from the logs.
"""

from __future__ import annotations

import sys

import redis
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.settings import WorkerSettings
from streams.state import keys
from streams.topics import end_offsets


def drop_state(settings: WorkerSettings) -> int:
    client = redis.Redis.from_url(settings.redis.url, **settings.redis.client_kwargs())
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


def reset_offsets(settings: WorkerSettings) -> None:
    admin = AdminClient(dict(settings.kafka.confluent_config()))
    partitions = [
        TopicPartition(topic, p, 0)
        for topic in (settings.topics.items, settings.topics.ratings)  # catalogue too
        for p in end_offsets(settings.kafka, topic)
    ]
    internal = end_offsets(settings.kafka, settings.by_item_topic)
    partitions += [TopicPartition(settings.by_item_topic, p, end) for p, end in internal.items()]
    request = ConsumerGroupTopicPartitions(settings.app_id, partitions)
    for future in admin.alter_consumer_group_offsets([request]).values():
        future.result()


def run(settings: WorkerSettings, yes: bool) -> int:
    if not yes:
        print("rebuild drops all streamrec state in Redis; stop every worker and pass --yes")
        return 2
    try:
        reset_offsets(settings)
    except Exception as exc:  # Kafka explains why (most often: workers still running)
        print(f"rebuild: could not reset the consumer group offsets: {exc}", file=sys.stderr)
        return 1
    print(f"rebuild: deleted {drop_state(settings)} keys; offsets reset.")
    print("start `streamrec worker` to rebuild from the ratings topic")
    return 0
