"""Faults on the wire between the worker and Kafka (issue 15), through the fault proxy:
added latency, every connection reset (again and again), and a blackhole longer than the
consumer group's session timeout, all while a replay is applied.

The broker (``KafkaCluster(fronted=True)``, one KRaft node) has a second listener whose
advertised address is the proxy's port: a client that bootstraps there is sent to the
proxy for every request, so all of the worker's traffic (consumer, group coordinator,
producer of the by-item hop) passes it, while the test produces and checks directly.
The worker must ride through each fault (alive, nothing dead-lettered) and the state must
equal the reference. That each fault landed is shown by the proxy's own counts (chunks
delayed, connections reset and opened again, bytes swallowed) and, for the blackhole, by
the worker's group: the broker dropped it after the session timeout, so it joined again.
"""

from __future__ import annotations

import time

import pytest
import redis

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec
from streams.settings import KafkaConnection
from streams.stack.cluster import KafkaCluster
from streams.stack.faultproxy import FaultProxy
from streams.topics import create_topics, topic_specs
from tests.conftest import free_port
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.faults import FULL, IDLE_S, fault_events, latency_then_resets, opened_since, thirds
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference
from tests.integration.test_kafka_broker_loss import _dead_letters
from tests.scrape import worker_metric

pytestmark = pytest.mark.integration

JOINS = "faust_rebalance_done_latency_count"  # rebalances the worker has completed


@pytest.mark.timeout(3_600 if FULL else 420)
def test_the_worker_rides_through_kafka_latency_resets_and_a_blackhole(
    worker_settings, start_worker, tmp_path
):
    cluster = KafkaCluster(
        tmp_path / "kafka", nodes=1, replication=1, min_insync=1, fronted=True
    ).start()
    node = cluster.nodes[0]
    proxy = FaultProxy(("127.0.0.1", node.front_listener_port), port=node.front_port).start()
    worker = None
    try:
        direct = worker_settings.model_copy(
            update={"kafka": KafkaConnection(bootstrap_servers=cluster.bootstrap)}
        )
        create_topics(direct.kafka, topic_specs(direct.topics))
        proxied = direct.model_copy(
            update={"kafka": KafkaConnection(bootstrap_servers=cluster.front_bootstrap)}
        )
        events = fault_events(
            SyntheticSpec(events=3_000, users=120, items=60, rerate_share=0.1), direct.cache_dir
        )
        first, second = thirds(events)
        port = free_port()
        worker = start_worker(proxied, port)  # all its Kafka traffic through the proxy
        _produce(direct, events[:first])
        latency_then_resets(proxy, lambda: _produce(direct, events[first:second]), 0.5)
        assert wait_idle(direct, timeout=IDLE_S)
        joins = worker_metric(port, JOINS)
        _produce(direct, events[second:])
        proxy.blackhole()  # nothing arrives either way: no fetch, heartbeat or commit
        time.sleep(direct.session_timeout_s + 5)  # the broker drops the member
        proxy.blackhole(False)
        assert proxy.dropped > 0
        before = proxy.connections
        proxy.reset()  # what the client's request timeout ends it with, sooner
        opened_since(proxy, before)
        assert wait_idle(direct, timeout=IDLE_S)
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        assert worker_metric(port, JOINS) > joins  # it lost its partitions and rejoined
        assert_state_equals_reference(direct, events)
        client = redis.Redis.from_url(direct.redis.url)
        assert_cooccurrence_equals_reference(client, events, direct.item_cf)
        assert _dead_letters(direct) == 0
    finally:
        if worker is not None and worker.poll() is None:  # before its broker goes
            worker.terminate()
            worker.wait(timeout=60)
        proxy.stop()
        cluster.stop()
