"""A broker lost in the middle of a replay (issue 15): three KRaft nodes (replication
factor 3, ``min.insync.replicas`` 2, ``streams.stack.cluster``); the node that
coordinates the worker's consumer group is killed (-9) while events are being applied
and produced, and started again a while later. Nothing may be lost or counted twice:
the state equals the reference over every event, and the dead-letter topic is empty.
That the kill landed is shown by the cluster: the group's coordinator moved to another
node, and the worker had applied some but not all events when it happened.
"""

from __future__ import annotations

import time

import pytest
import redis
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec
from streams.settings import KafkaConnection, RedisConnection
from streams.stack.cluster import KafkaCluster
from streams.topics import create_topics, topic_specs
from tests.conftest import free_port
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.faults import FULL, IDLE_S, fault_events
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference
from tests.integration.test_quiet_partition import progress_keys

pytestmark = pytest.mark.integration


def _coordinator(admin: AdminClient, group: str) -> int:
    return admin.describe_consumer_groups([group])[group].result().coordinator.id


def _applied(client: redis.Redis, names: list[str]) -> int:
    """Events the by-item path has counted (its progress hashes' ``events``)."""
    return sum(int(client.hget(key, "events") or 0) for key in names)


def _dead_letters(settings) -> int:
    consumer = Consumer(
        {
            **settings.kafka.confluent_config(),
            "group.id": f"{settings.app_id}-dlq-check",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([settings.topics.dlq])
    count, quiet = 0, 0
    while quiet < 5:
        message = consumer.poll(1.0)
        if message is None:
            quiet += 1
        elif message.error() is None:
            count += 1
    consumer.close()
    return count


@pytest.mark.timeout(3_600 if FULL else 600)
def test_a_broker_killed_mid_replay_loses_and_doubles_nothing(
    worker_settings, start_worker, tmp_path, services
):
    cluster = KafkaCluster(tmp_path / "kafka").start()
    try:
        topics = worker_settings.topics.model_copy(update={"replication_factor": 3})
        settings = worker_settings.model_copy(
            update={
                "kafka": KafkaConnection(bootstrap_servers=cluster.bootstrap),
                "topics": topics,
                "redis": RedisConnection(url=worker_settings.redis.url),
            }
        )
        create_topics(settings.kafka, topic_specs(topics))
        events = fault_events(
            SyntheticSpec(events=4_000, users=150, items=80, rerate_share=0.1), settings.cache_dir
        )
        half = len(events) // 2
        client = redis.Redis.from_url(settings.redis.url)
        pairs = progress_keys(settings)[: topics.ratings_partitions]
        admin = AdminClient(dict(settings.kafka.confluent_config()))
        worker = start_worker(settings, free_port())
        _produce(settings, events[:half])
        deadline = time.monotonic() + 180
        while _applied(client, pairs) == 0:  # the replay is under way
            assert time.monotonic() < deadline, worker.log_path.read_text()[-3000:]
            time.sleep(0.1)
        victim = _coordinator(admin, settings.app_id)
        cluster.kill_node(victim)
        applied_at_kill = _applied(client, pairs)
        _produce(settings, events[half:])  # produced while a node is down
        time.sleep(5)
        assert _coordinator(admin, settings.app_id) != victim  # the group moved on
        cluster.start_node(victim)
        assert wait_idle(settings, timeout=IDLE_S)
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        assert 0 < applied_at_kill < len(events)  # the kill landed mid-replay
        assert_state_equals_reference(settings, events)
        assert_cooccurrence_equals_reference(client, events, settings.item_cf)
        assert _dead_letters(settings) == 0
    finally:
        cluster.stop()
