import pytest
import redis.cluster

from streams.stack import manager
from streams.stack.config import StackSettings

pytestmark = pytest.mark.integration


def test_stack_up_twice_is_harmless(services):
    if services.source != "local stack":
        pytest.skip(f"services come from {services.source}, not the local stack")
    settings = StackSettings()
    first = {s.name: s for s in manager.up(settings, log=lambda _l: None)}
    lines: list[str] = []
    second = {s.name: s for s in manager.up(settings, log=lines.append)}
    assert {s.state for s in second.values()} <= {"running", "external"}
    assert {n: s.pid for n, s in first.items()} == {n: s.pid for n, s in second.items()}
    assert all("already" in line for line in lines)
    assert all(s.state in ("running", "external") for s in manager.status(settings))


def _free_base(low: int = 23_000, top: int = 32_000, bus: bool = False) -> int:
    """A port p with p..p+5 free (three nodes: client and controller ports, two apart);
    ``bus``: p+10000..p+10005 too (a Redis Cluster node's bus). Below the kernel's
    ephemeral ports (32768 up), which the nodes' own connections take while the JVMs
    start: a port chosen there was once taken before Kafka bound it."""
    import random

    from streams.stack.process import port_open

    for _ in range(50):
        base = random.randrange(low, top, 2)
        wanted = [base + k for k in range(6)] + [base + 10_000 + k for k in range(6) if bus]
        if not any(port_open("127.0.0.1", p) for p in wanted):
            return base
    raise AssertionError("no six free ports in a row")


@pytest.mark.timeout(300)
def test_stack_up_with_three_kafka_nodes(tmp_path, services):
    """``streamrec stack up --kafka-nodes 3 --redis-cluster``: three KRaft nodes that form
    one cluster, whose topics get three copies and min.insync.replicas 2, and a Redis
    Cluster of three masters with a replica each; down stops every node."""
    import subprocess
    import sys
    import time

    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

    base = _free_base()
    env = {
        **__import__("os").environ,
        "STREAMREC_STACK_STATE_DIR": str(tmp_path / "state"),
        "STREAMREC_STACK_KAFKA_PORT": str(base),
        "STREAMREC_STACK_CONTROLLER_PORT": str(base + 1),
        "STREAMREC_STACK_KAFKA_HEAP": "384m",
        "STREAMREC_STACK_REDIS_PORT": str(_free_base()),
        "STREAMREC_STACK_REDIS_CLUSTER_PORT": str(_free_base(12_000, 22_700, bus=True)),
    }

    def stack(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "streams.cli", "stack", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)

    try:
        up = stack("up", "--kafka-nodes", "3", "--redis-cluster")
        assert up.returncode == 0, up.stdout + up.stderr
        status = stack("status")  # the node count and the cluster are remembered
        assert [line.split()[0] for line in status.stdout.splitlines()] == [
            "kafka-1", "kafka-2", "kafka-3", "redis", "redis-cluster",
        ]  # fmt: skip
        assert status.returncode == 0, status.stdout
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{base + 4}"})  # any node
        assert len(admin.list_topics(timeout=10).brokers) == 3
        admin.create_topics([NewTopic("copies", 2)])["copies"].result()
        described = admin.list_topics("copies", timeout=10).topics["copies"]
        assert all(len(p.replicas) == 3 for p in described.partitions.values())
        resource = ConfigResource(ConfigResource.Type.TOPIC, "copies")
        for attempt in range(60):  # a new topic reaches every node's metadata a moment later
            try:
                config = admin.describe_configs([resource])[resource].result()
                break
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART or attempt == 59:
                    raise
                time.sleep(0.5)
        assert config["min.insync.replicas"].value == "2"
        first = int(env["STREAMREC_STACK_REDIS_CLUSTER_PORT"])
        cluster = redis.cluster.RedisCluster(host="127.0.0.1", port=first)
        flags = [node["flags"] for node in cluster.cluster_nodes().values()]
        assert sum("master" in f for f in flags) == 3 and sum("slave" in f for f in flags) == 3
        assert all(cluster.set(f"k{n}", n) for n in range(30))
    finally:
        down = stack("down")
    assert down.stdout.count("stopped") == 5, down.stdout
