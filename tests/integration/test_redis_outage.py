"""A Redis outage stalls the worker, it does not kill it or lose anything.

Redis (append-only, fsync on every write) is stopped the moment a pairs batch is begun and
not committed; a Redis of the test's own, on a private port, then reads the append-only
file to show that the outage landed inside that batch, before the real one comes back
(after a SIGTERM as an operator would stop it, or a kill -9; the harshest variant also
answers LOADING for seconds while it replays its file). The worker must ride it out and
the state must equal the from-scratch reference.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
from confluent_kafka.admin import AdminClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.settings import RedisConnection, WorkerSettings
from tests.conftest import free_port
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference
from tests.integration.test_quiet_partition import open_intents, progress_keys
from tests.scrape import worker_metric

pytestmark = pytest.mark.integration

LOADING_S = 6.0  # how long the harshest restart answers LOADING


def _client(port: int) -> redis.Redis:
    """A client that reports every answer as it is (no retries of its own)."""
    return redis.Redis(port=port, retry=Retry(NoBackoff(), 0), socket_timeout=60)


def _redis(port: int, folder: Path, *extra: str) -> subprocess.Popen:
    """redis-server on ``folder``'s append-only file; returns once it accepts connections
    (it may still be loading the file: that answers LOADING, which is the point)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed by make test"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--appendonly", "yes", "--appendfsync", "always", "--save", "", *extra],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "redis-server exited at start"
        try:
            _client(port).ping()
            return proc
        except redis.BusyLoadingError:
            return proc
        except redis.ConnectionError:
            time.sleep(0.02)
    raise AssertionError("redis-server did not start")


def _stop(proc: subprocess.Popen, how: str) -> None:
    if how == "term":
        proc.terminate()  # a clean shutdown: Redis stops at its next cron tick
    else:
        proc.send_signal(signal.SIGSTOP)  # frozen on the spot, then killed: nothing more runs
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _stop_inside_a_pairs_batch(proc, port, settings, how) -> None:
    """Stop Redis the moment a pairs batch is begun and not committed."""
    client = _client(port)
    names = progress_keys(settings)[: settings.topics.ratings_partitions]  # the pairs path
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if open_intents(client, names):
            _stop(proc, how)
            return
    raise AssertionError("no pairs batch was caught in flight")


def _as_left(folder: Path, settings: WorkerSettings) -> dict[str, tuple[int, int]]:
    """Batches begun and not committed in the append-only file, read by a Redis of the
    test's own on a private port (the worker cannot reach it)."""
    port = free_port()
    proc = _redis(port, folder)
    client = _client(port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                return open_intents(client, progress_keys(settings))
            except redis.BusyLoadingError:
                assert time.monotonic() < deadline, "the private Redis never finished loading"
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _fill(port: int, commands: int = 30_000) -> None:
    """Keys the worker never reads: AOF replay serves clients only every 1024 commands, so
    a file of many commands answers LOADING often while it is replayed slowly."""
    pipe = _client(port).pipeline(transaction=False)
    for n in range(commands):
        pipe.hset(f"filler:{n % 500}", str(n), n)
    pipe.execute()


def _slow_load(folder: Path) -> list[str]:
    """Redis options that make replaying ``folder``'s append-only file take ~LOADING_S."""
    commands = sum(
        len(re.findall(rb"(?:^|\r\n)\*\d+\r\n\$", part.read_bytes()))
        for part in (folder / "appendonlydir").glob("*.incr.aof")
    )
    return ["--key-load-delay", str(max(1, int(LOADING_S * 1e6 / max(commands, 1))))]


def _errors_counted(metrics_port: int) -> float:
    return worker_metric(metrics_port, "streamrec_redis_errors_total{")


def _assigned(settings: WorkerSettings, timeout: float = 120) -> None:
    """Wait until the worker's consumer group is stable with every input partition assigned."""
    admin = AdminClient(dict(settings.kafka.confluent_config()))
    wanted = 2 * settings.topics.ratings_partitions  # ratings and the by-item topic
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group = admin.describe_consumer_groups([settings.app_id])[settings.app_id].result()
        parts = [
            tp
            for m in group.members
            for tp in m.assignment.topic_partitions
            if tp.topic in (settings.topics.ratings, settings.by_item_topic)
        ]
        if group.state.name == "STABLE" and len(parts) >= wanted:
            return
        time.sleep(0.2)
    raise AssertionError("the worker's group never got its partitions")


@pytest.mark.timeout(400)
@pytest.mark.parametrize("how, loading", [("term", False), ("kill", False), ("kill", True)])
def test_worker_rides_out_a_redis_restart(
    worker_settings, topics, start_worker, tmp_path, how, loading
):
    port, metrics_port = free_port(), free_port()
    server = _redis(port, tmp_path)
    settings = worker_settings.model_copy(
        update={"redis": RedisConnection(url=f"redis://127.0.0.1:{port}/0")}
    )
    events = list(generate(SyntheticSpec(events=2_000, users=80, items=40, rerate_share=0.1)))
    _fill(port)
    worker = start_worker(settings, metrics_port)
    try:
        _produce(settings, events[:1000])
        _stop_inside_a_pairs_batch(server, port, settings, how)
        _produce(settings, events[1000:])  # arrives while Redis is away
        left = _as_left(tmp_path, settings)
        pairs = progress_keys(settings)[: settings.topics.ratings_partitions]
        if how == "kill":  # frozen with the intent read a moment before: it is on disk
            assert set(left) & set(pairs), f"the kill missed every pairs batch: {left}"
        time.sleep(2)
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        server = _redis(port, tmp_path, *(_slow_load(tmp_path) if loading else []))
        if loading:
            with pytest.raises(redis.BusyLoadingError):
                _client(port).ping()  # it answers, and says it is loading
        assert wait_idle(settings, timeout=240)
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        assert _errors_counted(metrics_port) > 0  # the outage was seen, counted and ridden out
        _assert_exact(settings, events)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _assert_exact(settings, events) -> None:
    """The user-based and the item-to-item state both equal the reference."""
    assert_state_equals_reference(settings, events)
    client = redis.Redis.from_url(settings.redis.url)
    assert_cooccurrence_equals_reference(client, events, settings.item_cf)


@pytest.mark.timeout(300)
def test_worker_rides_out_an_outage_at_a_partitions_first_batch(
    worker_settings, topics, start_worker, tmp_path
):
    """Redis goes away before any record arrives: every agent's first batch on every
    partition has to read that partition's fence during the outage."""
    port, metrics_port = free_port(), free_port()
    server = _redis(port, tmp_path)
    settings = worker_settings.model_copy(
        update={"redis": RedisConnection(url=f"redis://127.0.0.1:{port}/0")}
    )
    events = list(generate(SyntheticSpec(events=500, users=40, items=30, rerate_share=0.1)))
    worker = start_worker(settings, metrics_port)
    try:
        _assigned(settings)
        _stop(server, "kill")
        _produce(settings, events)
        time.sleep(4)  # every agent takes its first batch while Redis is away
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        server = _redis(port, tmp_path)
        assert wait_idle(settings, timeout=120)
        assert worker.poll() is None
        _assert_exact(settings, events)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.timeout(120)
def test_wait_idle_waits_while_redis_loads(worker_settings, topics, tmp_path):
    """Nothing to consume, but Redis is replaying its file after a restart (LOADING for
    longer than a client's own retries last): not idle, and no error, until it answers."""
    port = free_port()
    server = _redis(port, tmp_path)
    settings = worker_settings.model_copy(
        update={"redis": RedisConnection(url=f"redis://127.0.0.1:{port}/0")}
    )
    _fill(port)
    _stop(server, "term")
    server = _redis(port, tmp_path, "--key-load-delay", str(int(2 * LOADING_S * 1e6 / 30_000)))
    try:
        with pytest.raises(redis.BusyLoadingError):
            _client(port).ping()
        assert wait_idle(settings, timeout=90)
        assert _client(port).info("persistence")["loading"] == 0
    finally:
        server.terminate()
        server.wait(timeout=30)
