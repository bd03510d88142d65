"""A Kafka cluster of several KRaft nodes on this machine (issue 15): each node a broker
and a controller, the controller quorum made of all of them, replication factor 3 and
``min.insync.replicas`` 2 by default, so a write survives the loss of any one node and
is refused rather than kept on one copy when two are gone.

It reuses the jars ``streamrec stack`` assembled, runs on free ports in a folder of its
own and never touches the shared stack's broker. Nodes can be killed (-9) and started
again one by one, which is what the broker-loss tests do mid-replay.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from streams.stack.config import StackSettings
from streams.stack.ephemeral import free_port
from streams.stack.process import end_child, port_open
from streams.stack.services import KafkaService, StackError


class KafkaNode:
    def __init__(self, node_id: int, folder: Path) -> None:
        self.node_id = node_id
        self.folder = folder
        self.port, self.controller_port = free_port(), free_port()
        # a second client listener, advertised at ``front_port`` where a fault proxy
        # listens and forwards to ``front_listener_port`` (``KafkaCluster(fronted=True)``)
        self.front_port, self.front_listener_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.folder / "server.properties"

    def tail(self, lines: int = 30) -> str:
        path = self.folder / "node.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class KafkaCluster:
    """``KafkaCluster(folder).start()``; clients use ``bootstrap``."""

    def __init__(
        self,
        folder: Path,
        nodes: int = 3,
        replication: int = 3,
        min_insync: int = 2,
        heap: str = "384m",
        stack: StackSettings | None = None,
        fronted: bool = False,
    ) -> None:
        if not 1 <= min_insync <= replication <= nodes:
            raise ValueError("need 1 <= min_insync <= replication <= nodes")
        self.folder = folder
        self.replication, self.min_insync, self.heap = replication, min_insync, heap
        self.fronted = fronted
        self.kafka = KafkaService(stack or StackSettings())
        self.nodes = [KafkaNode(n, folder / f"node-{n}") for n in range(1, nodes + 1)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def front_bootstrap(self) -> str:
        """Where clients meet the fronted listener: every broker they are sent to is then
        a ``front_port``, so all their traffic passes whatever listens there."""
        return ",".join(f"127.0.0.1:{n.front_port}" for n in self.nodes)

    def _write_config(self, node: KafkaNode) -> None:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        r, isr = self.replication, self.min_insync
        listeners = [f"PLAINTEXT://127.0.0.1:{node.port}"]
        advertised = list(listeners)
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        if self.fronted:  # a broker answers metadata with the listener it was asked on
            listeners.append(f"FRONT://127.0.0.1:{node.front_listener_port}")
            advertised.append(f"FRONT://127.0.0.1:{node.front_port}")
            protocols += ",FRONT:PLAINTEXT"
        lines = [
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            f"listeners={','.join(listeners)},CONTROLLER://127.0.0.1:{node.controller_port}",
            f"advertised.listeners={','.join(advertised)}",
            "controller.listener.names=CONTROLLER",
            f"listener.security.protocol.map={protocols}",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={node.folder / 'data'}",
            "num.partitions=1",
            f"default.replication.factor={r}",
            f"min.insync.replicas={isr}",
            "auto.create.topics.enable=false",
            f"offsets.topic.replication.factor={r}",
            "offsets.topic.num.partitions=4",
            f"transaction.state.log.replication.factor={r}",
            f"transaction.state.log.min.isr={isr}",
            f"share.coordinator.state.topic.replication.factor={r}",
            f"share.coordinator.state.topic.min.isr={isr}",
            "group.initial.rebalance.delay.ms=0",
            "unclean.leader.election.enable=false",
            "",
        ]
        node.config.write_text("\n".join(lines))

    def start(self, timeout: float = 180) -> KafkaCluster:
        self.kafka.install()
        cluster_id = self.kafka.storage_tool("random-uuid").strip().splitlines()[-1]
        for node in self.nodes:
            node.folder.mkdir(parents=True, exist_ok=True)
            self._write_config(node)
            self.kafka.storage_tool("format", "-t", cluster_id, "-c", str(node.config))
        for node in self.nodes:
            self.start_node(node.node_id, wait=False)
        self._wait(lambda: self._brokers() == len(self.nodes), timeout, "the cluster")
        return self

    def start_node(self, node_id: int, wait: bool = True, timeout: float = 120) -> None:
        """Start (or start again) one node on its data folder."""
        node = self.nodes[node_id - 1]
        log = (node.folder / "node.log").open("ab")
        node.proc = subprocess.Popen(
            self.kafka._java("kafka.Kafka", str(node.config), heap=self.heap),
            cwd=node.folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        if wait:
            self._wait(lambda: port_open("127.0.0.1", node.port), timeout, f"node {node_id}")

    def kill_node(self, node_id: int) -> None:
        """kill -9 one node: no controlled shutdown, leadership moves on timeouts."""
        node = self.nodes[node_id - 1]
        if node.proc is not None:
            node.proc.kill()
            node.proc.wait(timeout=30)
        node.proc = None

    def _brokers(self) -> int:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 3000})
        try:
            return len(admin.list_topics(timeout=3).brokers)
        except Exception:  # any client failure means "not ready yet"
            return 0

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    raise StackError(f"node {node.node_id} exited at start-up:\n{node.tail()}")
            if ready():
                return
            time.sleep(0.5)
        self.stop()
        raise StackError(f"{what} was not ready after {timeout:.0f}s")

    def stop(self) -> None:
        for node in self.nodes:  # all asked first: they shut down side by side
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            end_child(node.proc)
            node.proc = None

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
