"""Faults on the wire between the worker and Redis (issue 15), through the fault proxy:
added latency, every connection reset (again and again), and a blackhole (bytes dropped
both ways, the connections left open) ended by a reset, all while a replay is applied.
The worker must ride through each (alive, the errors counted) and the state must equal
the reference. That each fault landed is shown by the proxy's own counts: chunks
delayed, connections reset and new ones opened after each reset, bytes swallowed.
"""

from __future__ import annotations

import time

import pytest
import redis

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec
from streams.settings import RedisConnection
from streams.stack.faultproxy import FaultProxy
from tests.conftest import free_port
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.faults import FULL, IDLE_S, fault_events, latency_then_resets, opened_since, thirds
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference
from tests.scrape import worker_metric

pytestmark = pytest.mark.integration


@pytest.mark.timeout(3_600 if FULL else 300)
def test_the_worker_rides_through_latency_resets_and_a_blackhole(
    worker_settings, topics, start_worker, services
):
    host, port = services.redis.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    db = worker_settings.redis.url.rsplit("/", 1)[1]
    proxy = FaultProxy((host, int(port))).start()
    settings = worker_settings.model_copy(
        update={"redis": RedisConnection(url=f"redis://127.0.0.1:{proxy.port}/{db}")}
    )
    events = fault_events(
        SyntheticSpec(events=3_000, users=120, items=60, rerate_share=0.1), settings.cache_dir
    )
    first, second = thirds(events)
    metrics_port = free_port()
    try:
        worker = start_worker(settings, metrics_port)
        _produce(settings, events[:first])
        latency_then_resets(proxy, lambda: _produce(settings, events[first:second]), 0.3)
        _produce(settings, events[second:])
        proxy.blackhole()  # nothing arrives, nothing is refused
        time.sleep(4)
        proxy.blackhole(False)
        assert proxy.dropped > 0
        before = proxy.connections
        proxy.reset()  # what a TCP keepalive or the client's timeout ends it with
        opened_since(proxy, before)
        assert wait_idle(settings, timeout=IDLE_S)
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        assert worker_metric(metrics_port, "streamrec_redis_errors_total{") > 0
        assert_state_equals_reference(settings, events)
        client = redis.Redis.from_url(worker_settings.redis.url)
        assert_cooccurrence_equals_reference(client, events, settings.item_cf)
    finally:
        proxy.stop()
