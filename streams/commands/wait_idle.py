"""``streamrec wait-idle``: return once the worker has drained its topics and no list is stale."""

from __future__ import annotations

import time

import redis
from confluent_kafka import Consumer, TopicPartition

from streams import keys
from streams.settings import WorkerSettings
from streams.topics import end_offsets


def lag(settings: WorkerSettings) -> int:
    """Records not yet committed by the worker's consumer group, over its input topics."""
    consumer = Consumer({**settings.kafka.confluent_config(), "group.id": settings.app_id})
    total = 0
    try:
        for topic in (settings.topics.ratings, settings.by_item_topic):
            try:
                ends = end_offsets(settings.kafka, topic)
            except KeyError:
                continue  # the internal topic is created by the worker on its first start
            committed = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
            for tp in committed:
                done = tp.offset if tp.offset >= 0 else 0
                total += max(0, ends[tp.partition] - done)
    finally:
        consumer.close()
    return total


def wait_idle(settings: WorkerSettings, timeout: float = 600, poll: float = 0.5) -> bool:
    client = redis.Redis.from_url(settings.redis.url, **settings.redis.client_kwargs())
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        if lag(settings) == 0 and client.zcard(keys.stale_users()) == 0:
            quiet += 1
            if quiet >= 2:  # twice in a row: nothing was in flight between the checks
                return True
        else:
            quiet = 0
        time.sleep(poll)
    return False
