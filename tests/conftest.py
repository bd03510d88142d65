"""Service resolution for integration tests: real Kafka and real Redis, never fakes.

Order: endpoints in STREAMREC_TEST_KAFKA / STREAMREC_TEST_REDIS; testcontainers where a
Docker engine answers; otherwise the project's own local stack (``streamrec stack up``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
    """The endpoints, held by this session alone: tests flush their Redis databases, so
    a second session on the same server (a CI run beside a developer's unit tests) would
    wipe state under a running test and fail it as if data had been lost."""
    with _endpoints() as found, _sole_session(found.redis):
        yield found


@contextlib.contextmanager
def _sole_session(redis_url: str, ttl_s: int = 30) -> Iterator[None]:
    import redis

    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/15")
    key, me = "streamrec:test-session", f"{socket.gethostname()}:{os.getpid()}"
    if not client.set(key, me, nx=True, ex=ttl_s):
        holder = client.get(key)
        pytest.exit(
            f"another test session ({holder!r}) is using the Redis at {redis_url}: tests "
            "flush its databases. Run one session at a time, or point STREAMREC_TEST_REDIS "
            "and STREAMREC_TEST_KAFKA at servers of this session's own (a session killed "
            f"without cleaning up holds it {ttl_s} s at most).",
            returncode=3,
        )
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl_s / 3):
            client.set(key, me, ex=ttl_s)

    threading.Thread(target=renew, daemon=True, name="test-session-lock").start()
    try:
        yield
    finally:
        stop.set()
        if client.get(key) == me.encode():
            client.delete(key)


@contextlib.contextmanager
def _endpoints() -> Iterator[Endpoints]:
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


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A redis-server of the module's own (a test that may flush or kill clients)."""
    from streams.stack.ephemeral import RedisServer

    with RedisServer(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def worker_settings(services: Endpoints, unique: str) -> WorkerSettings:
    """Settings with topics, consumer group and Redis database of their own (emptied
    first), so tests never share state: the state records the partition layout it was
    built with, and a worker refuses to start on another app's state."""
    import redis

    db = os.environ.get("STREAMREC_TEST_WORKER_DB", "10")
    url = services.redis.rsplit("/", 1)[0] + "/" + db
    redis.Redis.from_url(url).flushdb()
    return WorkerSettings(
        app_id=f"streamrec-test-{unique}",
        kafka=KafkaConnection(bootstrap_servers=services.kafka),
        redis=RedisConnection(url=url),
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
    app_id = worker_settings.app_id  # the worker's internal topics go too
    internal = [worker_settings.by_item_topic, f"{app_id}-__assignor-__leader"]
    delete_topics(worker_settings.kafka, [s.name for s in specs] + internal)


def worker_env(settings: WorkerSettings, metrics_port: int = 0) -> dict[str, str]:
    """The environment that points a ``streamrec worker`` process at these settings."""
    t = settings.topics
    return {
        **os.environ,
        "STREAMREC_APP_ID": settings.app_id,
        "STREAMREC_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "STREAMREC_REDIS__URL": settings.redis.url,
        "STREAMREC_REDIS__CLUSTER": str(settings.redis.cluster).lower(),
        "STREAMREC_REDIS__WAIT_REPLICAS": str(settings.redis.wait_replicas),
        "STREAMREC_REDIS__WAIT_TIMEOUT_S": str(settings.redis.wait_timeout_s),
        "STREAMREC_TOPICS__RATINGS": t.ratings,
        "STREAMREC_TOPICS__ITEMS": t.items,
        "STREAMREC_TOPICS__DLQ": t.dlq,
        "STREAMREC_TOPICS__RATINGS_PARTITIONS": str(t.ratings_partitions),
        "STREAMREC_TOPICS__REPLICATION_FACTOR": str(t.replication_factor),
        "STREAMREC_METRICS_PORT": str(metrics_port),
        "STREAMREC_DATA_DIR": settings.data_dir,
        "STREAMREC_USER_CF__FAN_OUT_CAP": str(settings.user_cf.fan_out_cap),
        "STREAMREC_USER_CF__HISTORY_CAP": str(settings.user_cf.history_cap),
        "STREAMREC_ITEM_CF__ENABLED": str(settings.item_cf.enabled).lower(),
        "STREAMREC_ITEM_CF__KMAX": str(settings.item_cf.kmax),
        "STREAMREC_ITEM_CF__FMAX": str(settings.item_cf.fmax),
        "STREAMREC_ITEM_CF__WINDOW": str(settings.item_cf.window),
        "STREAMREC_ITEM_CF__SIMILARITY": settings.item_cf.similarity,
        "STREAMREC_EMBEDDING__ENABLED": str(settings.embedding.enabled).lower(),
        "STREAMREC_EMBEDDING__KIND": settings.embedding.kind,
        "STREAMREC_CONTENT__ENABLED": str(settings.content.enabled).lower(),
        "STREAMREC_SERVED__ENABLED": str(settings.served.enabled).lower(),
        "STREAMREC_REFRESH__SWEEP": str(settings.refresh.sweep).lower(),
        "STREAMREC_SERVED__POPULAR_REFRESH_PER_S": str(settings.served.popular_refresh_per_s),
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def engine_settings(worker_settings: WorkerSettings, services: Endpoints) -> WorkerSettings:
    """Worker settings on a Redis database of its own, emptied first (engine state)."""
    import redis

    # STREAMREC_TEST_ENGINE_DB lets two suites share one Redis without flushing each other
    url = services.redis.rsplit("/", 1)[0] + "/" + os.environ.get("STREAMREC_TEST_ENGINE_DB", "3")
    redis.Redis.from_url(url).flushdb()
    return worker_settings.model_copy(update={"redis": RedisConnection(url=url)})


@pytest.fixture
def start_worker(tmp_path):
    """Start ``streamrec worker`` processes; all are stopped at the end of the test.

    Each one's stderr goes to a file (``proc.log_path``), never to a pipe: a long run logs
    more than a pipe holds, and a worker blocked on a full pipe looks like a slow one."""
    import subprocess
    import sys

    procs: list[subprocess.Popen] = []

    def start(settings: WorkerSettings, metrics_port: int = 0) -> subprocess.Popen:
        log_path = tmp_path / f"worker-{len(procs)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"],
                env=worker_env(settings, metrics_port),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        proc.log_path = log_path  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    start.logs = lambda: [proc.log_path for proc in procs]  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
