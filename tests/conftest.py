"""Service resolution for integration tests: real Kafka and real Redis, never fakes.

Order: endpoints in STREAMREC_TEST_KAFKA / STREAMREC_TEST_REDIS; testcontainers where a
Docker engine answers; otherwise the project's own local stack (``streamrec stack up``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from streams.settings import KafkaConnection, RedisConnection, TopicSettings, WorkerSettings


@dataclass(frozen=True)
class Endpoints:
    kafka: str
    redis: str
    source: str


def _docker_engine() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def services() -> Iterator[Endpoints]:
    kafka, redis_url = (
        os.environ.get("STREAMREC_TEST_KAFKA"),
        os.environ.get("STREAMREC_TEST_REDIS"),
    )
    if kafka and redis_url:
        yield Endpoints(kafka, redis_url, "environment")
        return
    if _docker_engine():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.redis import RedisContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as k, RedisContainer() as r:
            host, port = r.get_container_host_ip(), r.get_exposed_port(6379)
            yield Endpoints(k.get_bootstrap_server(), f"redis://{host}:{port}/0", "testcontainers")
        return
    from streams.stack import manager
    from streams.stack.config import StackSettings

    stack = StackSettings()
    manager.up(stack, log=lambda _line: None)
    yield Endpoints(stack.kafka_bootstrap, stack.redis_url, "local stack")


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def worker_settings(services: Endpoints, unique: str) -> WorkerSettings:
    """Settings with topics and consumer group of their own, so tests never share state."""
    return WorkerSettings(
        app_id=f"streamrec-test-{unique}",
        kafka=KafkaConnection(bootstrap_servers=services.kafka),
        redis=RedisConnection(url=services.redis),
        topics=TopicSettings(
            ratings=f"t{unique}.ratings",
            items=f"t{unique}.items",
            dlq=f"t{unique}.ratings.dlq",
            ratings_partitions=4,
        ),
        metrics_port=0,
        data_dir=f"/tmp/streamrec-test-{unique}",
    )


@pytest.fixture
def topics(worker_settings: WorkerSettings) -> Iterator[TopicSettings]:
    from streams.topics import create_topics, delete_topics, topic_specs

    specs = topic_specs(worker_settings.topics)
    create_topics(worker_settings.kafka, specs)
    yield worker_settings.topics
    delete_topics(worker_settings.kafka, [s.name for s in specs])
