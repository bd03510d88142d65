"""Redis losing acknowledged writes (issue 15): a failover to a lagging replica, and a
restart without persistence.

The worker reaches Redis through a fault proxy (``streams.stack.faultproxy``), as it
would through a Sentinel-managed or a Kubernetes service address. A first part of the
stream (and a catalogue) is applied; then the Redis that will take over stops following:
a replica whose replication link is cut (a blackhole: it receives nothing more, where a
SIGSTOP would still let the kernel buffer what it missed), or nothing at all (a restart
without an append-only file comes back empty). A second part is applied, acknowledged and
committed to Kafka; the master is killed (-9) and the proxy switched to the promoted
replica, or to a fresh server.

The test shows that the loss landed (the new server's fences are behind the master's
last ones, Kafka's committed offsets ahead of them), that the running worker saw it and
stopped (exit 69, ``LostWrites``), that its restart rewound the committed offsets and
replayed (``streamrec_rewinds_total``), and that the state then equals the reference over
every event, including those produced after the fault, with the catalogue back.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec
from streams.producer import EventProducer
from streams.schemas.items import ItemEvent
from streams.settings import RedisConnection
from streams.stack.ephemeral import RedisServer
from streams.stack.faultproxy import FaultProxy
from streams.state import keys
from streams.worker.guard import EXIT_LOST_WRITES
from tests.conftest import free_port
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.faults import FULL, IDLE_S, fault_events, thirds
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference
from tests.integration.test_quiet_partition import progress_keys
from tests.scrape import worker_metric

pytestmark = pytest.mark.integration


def _fences(client: redis.Redis, names: list[str]) -> dict[str, int]:
    pipe = client.pipeline(transaction=False)
    for key in names:
        pipe.hget(key, "fence")
    return {k: int(f or -1) for k, f in zip(names, pipe.execute(), strict=True)}


def _committed(settings) -> dict[tuple[str, int], int]:
    """The worker group's committed offsets on ``ratings`` and the by-item topic."""
    admin = AdminClient(dict(settings.kafka.confluent_config()))
    parts = [
        TopicPartition(topic, p)
        for topic in (settings.topics.ratings, settings.by_item_topic)
        for p in range(settings.topics.ratings_partitions)
    ]
    request = ConsumerGroupTopicPartitions(settings.app_id, parts)
    got = admin.list_consumer_group_offsets([request])[settings.app_id].result()
    return {(tp.topic, tp.partition): tp.offset for tp in got.topic_partitions}


def _in_sync(master: redis.Redis, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if master.wait(1, 1000) >= 1:
            return
    raise AssertionError("the replica never caught up")


class Successor:
    """The Redis that takes over: a replica behind a cuttable link, or a fresh server."""

    def __init__(self, kind: str, master: RedisServer, folder: Path) -> None:
        self.kind = kind
        self.link: FaultProxy | None = None
        self.server: RedisServer | None = None
        if kind == "failover":
            self.link = FaultProxy(("127.0.0.1", master.port)).start()
            args = ("--replicaof", "127.0.0.1", str(self.link.port))
            self.server = RedisServer(folder, args=args).start()
            _in_sync(redis.Redis(port=master.port))
        self.folder = folder

    def stop_following(self) -> None:
        if self.link is not None:
            self.link.blackhole()  # replication stops here

    def take_over(self) -> RedisServer:
        if self.server is None:  # a restart without persistence: empty
            self.server = RedisServer(self.folder).start()
        else:
            redis.Redis(port=self.server.port).replicaof("NO", "ONE")
        return self.server

    def stop(self) -> None:
        if self.link is not None:
            self.link.stop()
        if self.server is not None:
            self.server.stop()


@pytest.mark.timeout(3_600 if FULL else 420)
@pytest.mark.parametrize("kind", ["failover", "restart-without-persistence"])
def test_redis_losing_acknowledged_writes_is_detected_and_replayed(
    worker_settings, topics, start_worker, tmp_path, kind
):
    master = RedisServer(tmp_path / "master").start()
    successor = Successor(kind, master, tmp_path / "successor")
    proxy = FaultProxy(("127.0.0.1", master.port)).start()
    settings = worker_settings.model_copy(
        update={"redis": RedisConnection(url=f"redis://127.0.0.1:{proxy.port}/0")}
    )
    names = progress_keys(settings)
    events = fault_events(
        SyntheticSpec(events=3_000, users=120, items=60, rerate_share=0.1), settings.cache_dir
    )
    first, second = thirds(events)
    catalogue = sorted({e.item_id for e in events})
    metrics_port = free_port()
    try:
        worker = start_worker(settings, free_port())
        with EventProducer(settings.kafka) as producer:
            for item in catalogue:
                producer.send_item(settings.topics.items, ItemEvent(item, f"title {item}"))
        _produce(settings, events[:first])
        assert wait_idle(settings, timeout=IDLE_S)
        kept = _fences(redis.Redis(port=master.port), names)
        successor.stop_following()
        _produce(settings, events[first:second])
        assert wait_idle(settings, timeout=IDLE_S)  # applied and committed to Kafka
        time.sleep(1.5)  # one more commit interval: the committed offsets are the last
        last = _fences(redis.Redis(port=master.port), names)
        committed = _committed(settings)

        master.proc.kill()  # -9: what the successor lacks is gone  # type: ignore[union-attr]
        master.proc.wait(timeout=10)  # type: ignore[union-attr]
        server = successor.take_over()
        proxy.switch(("127.0.0.1", server.port))

        # the fault landed: the successor holds the fences from before it stopped
        # following (none at all after the restart), behind the master's last ones and
        # behind what Kafka has committed
        held = _fences(redis.Redis(port=server.port), names)
        assert held == (kept if kind == "failover" else dict.fromkeys(names, -1))
        assert [k for k in names if held[k] < last[k]], f"nothing was lost: {held} vs {last}"
        assert max(committed.values()) > max(held.values()) + 1

        # the running worker sees it at its next audit or batch and stops to be replayed
        assert worker.wait(timeout=60) == EXIT_LOST_WRITES, worker.log_path.read_text()[-3000:]
        assert "Redis no longer holds progress" in worker.log_path.read_text()

        _produce(settings, events[second:])  # the stream goes on meanwhile
        restarted = start_worker(settings, metrics_port)  # what a supervisor does
        assert wait_idle(settings, timeout=IDLE_S)
        assert restarted.poll() is None, restarted.log_path.read_text()[-3000:]
        assert worker_metric(metrics_port, "streamrec_rewinds_total{") >= 1
        assert worker_metric(metrics_port, "streamrec_rewound_records_total{") > 0
        client = redis.Redis.from_url(settings.redis.url)
        assert_state_equals_reference(settings, events)
        assert_cooccurrence_equals_reference(client, events, settings.item_cf)
        titles = client.pipeline(transaction=False)
        for item in catalogue:
            titles.hget(keys.item_meta(item), "title")
        assert titles.execute() == [f"title {item}".encode() for item in catalogue]
    finally:
        proxy.stop()
        successor.stop()
        master.stop()
