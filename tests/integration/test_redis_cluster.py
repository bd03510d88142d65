"""The worker on a Redis Cluster (issue 15): three masters with a replica each, Debian's
``redis-server`` started here, the worker told ``STREAMREC_REDIS__CLUSTER=true``. Every
script touches one slot (the key tags), so a replay must leave exactly the state it
leaves on one server, spread over the masters."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import ReaderSettings
from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.settings import RedisConnection, WorkerSettings
from streams.stack.redis_cluster import LocalRedisCluster
from streams.state import keys
from streams.state.clients import sync_client
from streams.state.codecs import text
from tests.conftest import free_port
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.faults import FULL
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference
from tests.scrape import worker_metric

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    with LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture
def cluster_settings(
    engine_settings: WorkerSettings, redis_cluster: LocalRedisCluster
) -> WorkerSettings:
    client = sync_client(RedisConnection(url=redis_cluster.url, cluster=True))
    client.flushall(target_nodes=client.PRIMARIES)
    return engine_settings.model_copy(
        update={"redis": RedisConnection(url=redis_cluster.url, cluster=True)}
    )


def test_a_replay_on_a_redis_cluster_equals_the_reference(
    cluster_settings, topics, start_worker, redis_cluster
):
    spec = SyntheticSpec(events=3_000, users=120, items=80, rerate_share=0.1, delete_share=0.05)
    events = list(generate(spec))
    port = free_port()
    worker = start_worker(cluster_settings, port)
    _produce(cluster_settings, events)
    deadline = time.monotonic() + 300
    while not wait_idle(cluster_settings, timeout=10):  # a worker that stopped fails at once
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, "the worker did not drain the stream"
    assert worker.poll() is None
    assert worker_metric(port, 'streamrec_batch_apply_seconds_count{stage="pairs"}') > 0
    assert_state_equals_reference(cluster_settings, events)
    client = sync_client(cluster_settings.redis)
    assert_cooccurrence_equals_reference(client, events, cluster_settings.item_cf)
    served = [u for u in {e.user_id for e in events} if client.exists(keys.user_served(u))]
    assert served  # the list process fused lists on the cluster too
    spread = redis_cluster.keys_per_master()
    assert len(spread) == 3 and min(spread.values()) > 0.1 * sum(spread.values()), spread
    # the reader serves from the cluster what the worker stored there
    reader = ReaderSettings(
        kafka=cluster_settings.kafka, redis=cluster_settings.redis, topics=cluster_settings.topics
    )
    with TestClient(create_app(reader)) as http:
        assert http.get("/readyz").status_code == 200
        user = events[-1].user_id
        served = http.get(f"/v1/users/{user}/recommendations", params={"n": 5})
        assert served.status_code == 200 and len(served.json()["items"]) == 5
        alone = http.get(f"/v1/users/{user}/recommendations", params={"n": 5, "source": "user-cf"})
        stored = [text(i) for i in client.zrevrange(keys.user_topn(user), 0, 4)]
        assert [i["item_id"] for i in alone.json()["items"]] == stored and stored


def test_cluster_settings_are_checked():
    with pytest.raises(ValueError, match="database 0"):
        RedisConnection(url="redis://127.0.0.1:7000/3", cluster=True)
    with pytest.raises(ValueError, match="over TCP"):
        RedisConnection(url="unix:///tmp/redis.sock", cluster=True)


def test_scripts_a_node_lost_are_loaded_again(redis_cluster):
    """A restarted node or a promoted replica has no scripts: a pipeline meeting NOSCRIPT
    raises an outage (the agents retry those) and the retry loads them again."""
    import asyncio

    from redis.exceptions import ConnectionError as RedisConnectionError

    from streams.state.clients import async_client

    async def scenario() -> None:
        client = async_client(RedisConnection(url=redis_cluster.url, cluster=True))
        echo = client.register_script("return ARGV[1]")

        async def call() -> list[bytes]:
            async with client.pipeline() as pipe:
                for k in range(30):  # keys of many slots, on every master
                    await echo(keys=[f"{{u:{k}}}:x"], args=[k], client=pipe)
                return await pipe.execute()

        want = [str(k).encode() for k in range(30)]
        assert await call() == want
        await client.script_flush()  # every master forgets its scripts
        with pytest.raises(RedisConnectionError, match="lost its scripts"):
            await call()
        assert await call() == want
        await client.aclose()

    asyncio.run(scenario())


def test_the_replica_barrier_waits_for_every_masters_replicas(redis_cluster):
    """One replica per master acknowledges at once; asking for two (there is one) fails
    after the timeout: the barrier really asks the replicas, on every master."""
    import asyncio

    from streams.state.clients import ReplicaBarrier, ReplicasBehind, async_client

    async def scenario() -> None:
        connection = RedisConnection(url=redis_cluster.url, cluster=True, wait_replicas=1)
        client = async_client(connection)
        await client.initialize()
        barrier = ReplicaBarrier(client, connection)
        await barrier()
        assert len(barrier.links) == 3  # a link to each master
        for link, key in barrier.links.values():  # each bumped a key of its own master
            assert int(await link.get(key)) == 1
        strict = connection.model_copy(update={"wait_replicas": 2, "wait_timeout_s": 0.2})
        with pytest.raises(ReplicasBehind, match="1 of 2 replicas"):
            await (behind := ReplicaBarrier(client, strict))()
        for opened in (barrier, behind):
            await opened.aclose()
        await client.aclose()

    asyncio.run(scenario())


def _master_and_heir(cluster: LocalRedisCluster, shared: int) -> tuple[Any, Any]:
    """A master other than ``{g}``'s (whose fences would show a loss) and its replica."""
    victim = next(
        n for n in cluster.nodes
        if n.port != shared and redis.Redis(port=n.port).info("replication")["role"] == "master"
    )  # fmt: skip
    heir = next(
        n for n in cluster.nodes
        if redis.Redis(port=n.port).info("replication").get("master_port") == victim.port
    )  # fmt: skip
    return victim, heir


def _killed_and_replaced(
    victim: Any, heir: Any, shared: int, takeover: bool, then: Callable[[], None] = lambda: None
) -> None:
    """kill -9 of ``victim``, ``then`` run; ``heir`` promoted (by the cluster, or forced at
    once with ``takeover``, as an operator does); ``victim`` started again, as a replica."""
    os.kill(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait()
    then()
    if takeover:
        redis.Redis(port=heir.port).cluster("failover", "takeover")
    deadline = time.monotonic() + 60
    while (
        redis.Redis(port=heir.port).info("replication")["role"] != "master"
        or redis.Redis(port=shared).cluster("info")["cluster_state"] != "ok"
    ):
        assert time.monotonic() < deadline, "the replica was not promoted"
        time.sleep(0.2)
    victim.proc = None
    victim.start()  # back, as the promoted node's replica: the barrier can pass again


def _drained_exactly(settings: WorkerSettings, worker: Any, port: int, events: list) -> None:
    deadline = time.monotonic() + 400
    while not wait_idle(settings, timeout=10):
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, "the worker did not drain the stream"
    assert_state_equals_reference(settings, events)
    assert_cooccurrence_equals_reference(sync_client(settings.redis), events, settings.item_cf)
    assert worker_metric(port, "streamrec_redis_errors_total") > 0  # it felt the fault


@pytest.mark.timeout(600)
def test_a_master_killed_mid_replay_is_ridden_through_exactly(
    engine_settings, topics, start_worker, tmp_path
):
    """kill -9 of a master while a replay runs (its last part produced after the kill,
    so batches meet the dead master); its replica is promoted, the node comes back as a
    replica: the worker rides through, the state equals the reference."""
    spec = SyntheticSpec(events=2_500, users=150, items=80, rerate_share=0.1, delete_share=0.05)
    events = list(generate(spec))
    with LocalRedisCluster(tmp_path / "cluster") as cluster:
        connection = RedisConnection(url=cluster.url, cluster=True, wait_replicas=1)
        settings = engine_settings.model_copy(update={"redis": connection})
        port = free_port()
        worker = start_worker(settings, port)
        client = sync_client(connection)
        victim, heir = _master_and_heir(cluster, client.get_node_from_key(keys.user_means()).port)
        _produce(settings, events[:2_000])
        applied = 0
        for _ in range(600):  # kill once some events are applied
            applied = int(client.hget(keys.stream_stats(), "events") or 0)
            if applied >= 300:
                break
            time.sleep(0.05)
        assert applied >= 300, applied
        # the rest is produced just after the kill, so batches always meet the dead master
        # (a fast worker may have applied all of the first part before the kill)
        shared = client.get_node_from_key(keys.user_means()).port
        rest = events[2_000:]
        _killed_and_replaced(victim, heir, shared, False, lambda: _produce(settings, rest))
        _drained_exactly(settings, worker, port, events)
        assert redis.Redis(port=victim.port).info("replication")["role"] == "slave"


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "barrier",
    [
        1,
        pytest.param(0, marks=pytest.mark.skipif(not FULL, reason="the control: test-faults")),
    ],
)
def test_a_failover_to_a_lagging_replica_loses_nothing_committed(
    engine_settings, topics, start_worker, tmp_path, barrier
):
    """A master's replica is paused (SIGSTOP) and its link cut while batches write to the
    master; the master is killed and the stale replica takes over: what the master
    acknowledged since the cut is gone. With the replica barrier no batch committed
    meanwhile (its replica never acknowledged them), so the redo restores them. The
    control, ``barrier`` 0 (``make test-faults``), shows the loss is real: without the
    barrier the state is not the reference's."""
    spec = SyntheticSpec(events=2_000, users=150, items=80, rerate_share=0.1, delete_share=0.05)
    events = list(generate(spec))
    with LocalRedisCluster(tmp_path / "cluster") as cluster:
        connection = RedisConnection(
            url=cluster.url, cluster=True, wait_replicas=barrier,
            wait_timeout_s=0.5,
        )  # fmt: skip
        settings = engine_settings.model_copy(update={"redis": connection})
        port = free_port()
        worker = start_worker(settings, port)
        client = sync_client(connection)
        shared = client.get_node_from_key(keys.user_means()).port
        victim, heir = _master_and_heir(cluster, shared)
        _produce(settings, events[:1_000])
        assert wait_idle(settings, timeout=120)
        os.kill(heir.proc.pid, signal.SIGSTOP)  # the replica stops taking the master's writes
        try:  # and its link is cut: what the master writes from now on never reaches it
            assert redis.Redis(port=victim.port).client_kill_filter(_type="replica") == 1
            written = redis.Redis(port=victim.port).info("stats")["total_commands_processed"]
            _produce(settings, events[1_000:])
            time.sleep(6)  # the worker applies batches to the master meanwhile
            after = redis.Redis(port=victim.port).info("stats")["total_commands_processed"]
            assert after > written + 100  # the lost writes really were made
        finally:
            os.kill(heir.proc.pid, signal.SIGCONT)
        _killed_and_replaced(victim, heir, shared, takeover=True)
        if barrier:
            _drained_exactly(settings, worker, port, events)
        else:
            assert wait_idle(settings, timeout=120)
            with pytest.raises(AssertionError):  # acknowledged, committed, then lost
                assert_state_equals_reference(settings, events)
