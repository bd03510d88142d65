"""A Redis outage stalls the worker, it does not kill it or lose anything."""

import shutil
import subprocess
import time
import urllib.request

import pytest

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.settings import RedisConnection
from tests.conftest import free_port
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference

pytestmark = pytest.mark.integration


def _redis(port: int, folder) -> subprocess.Popen:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed by make test"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)
    return proc


def test_worker_rides_out_a_redis_restart(worker_settings, topics, start_worker, tmp_path):
    port, metrics_port = free_port(), free_port()
    server = _redis(port, tmp_path)
    settings = worker_settings.model_copy(
        update={"redis": RedisConnection(url=f"redis://127.0.0.1:{port}/0")}
    )
    events = list(generate(SyntheticSpec(events=2_000, users=80, items=40, rerate_share=0.1)))
    worker = start_worker(settings, metrics_port)
    try:
        _produce(settings, events[:1000])
        time.sleep(4)
        server.terminate()
        server.wait(timeout=30)
        _produce(settings, events[1000:])  # arrives while Redis is away
        time.sleep(4)
        assert worker.poll() is None
        server = _redis(port, tmp_path)  # back, with its append-only file
        assert wait_idle(settings, timeout=240)
        assert worker.poll() is None
        body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read()
        errors = [
            float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line.startswith("streamrec_redis_errors_total{")
        ]
        assert sum(errors) > 0  # the outage was seen, counted and ridden out
        assert_state_equals_reference(settings, events)
    finally:
        server.terminate()
        server.wait(timeout=30)
