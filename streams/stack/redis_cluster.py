"""A Redis Cluster of Debian ``redis-server`` processes on this machine (issue 15): each
master with its replicas, slots spread evenly by ``redis-cli --cluster create``. Used by
the tests and by ``streamrec stack up --redis-cluster``; clients reach it through any
node's URL with ``STREAMREC_REDIS__CLUSTER=true``."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from streams.stack.config import StackSettings
from streams.stack.ephemeral import RedisServer
from streams.stack.process import ManagedProcess, port_open
from streams.stack.services import Health, StackError


def cluster_ports(count: int) -> list[int]:
    """``count`` free ports whose bus ports (+10000) are free too, both below the kernel's
    ephemeral ports (32768 up, which other processes' connections take at any moment): a
    cluster node's port must leave room for its bus, which ephemeral ports do not."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randrange(12_000, 22_000)
        if port in chosen or any(abs(port - c) == 10_000 for c in chosen):
            continue
        if all(_free(p) for p in (port, port + 10_000)):
            chosen.append(port)
    return chosen


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalRedisCluster:
    """``LocalRedisCluster(folder).start()``; ``url`` names the first master. ``ports``
    fixes the nodes' ports (the stack's), else free ones are taken."""

    def __init__(
        self, folder: Path, masters: int = 3, replicas: int = 1, ports: list[int] | None = None
    ) -> None:
        count = masters * (1 + replicas)
        if ports is not None and len(ports) != count:
            raise ValueError(f"{count} ports needed, {len(ports)} given")
        self.masters, self.replicas = masters, replicas
        ports = ports or cluster_ports(count)
        args = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "5000")  # fmt: skip
        self.nodes = [
            RedisServer(folder / f"node-{k}", args=args, port=ports[k]) for k in range(count)
        ]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 60) -> LocalRedisCluster:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is required (Debian: apt-get install redis-tools)")
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas),
             "--cluster-yes"],
            check=True, capture_output=True, timeout=timeout,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Redis Cluster was not ready after {timeout:.0f} s")
            time.sleep(0.2)
        return self

    def ready(self) -> bool:
        """Every node sees every slot served and the cluster whole, each replica attached."""
        for node in self.nodes:
            try:
                info = redis.Redis(port=node.port, socket_timeout=2).cluster("info")
            except redis.RedisError:
                return False
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) < len(
                self.nodes
            ):
                return False
        roles = _roles(redis.Redis(port=self.nodes[0].port, socket_timeout=2))
        return roles == {"master": self.masters, "slave": self.masters * self.replicas}

    def keys_per_master(self) -> dict[int, int]:
        """How many keys each master holds (port → DBSIZE): the data really is spread."""
        counts = {}
        for node in self.nodes:
            client = redis.Redis(port=node.port, socket_timeout=5)
            if client.info("replication")["role"] == "master":
                counts[node.port] = int(client.dbsize())
        return counts

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalRedisCluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class ProcessGroup:
    """The nodes' processes, answering as one ``ManagedProcess`` does for the manager."""

    def __init__(self, processes: list[ManagedProcess]) -> None:
        self.processes = processes

    def pid(self) -> int | None:
        pids = [p.pid() for p in self.processes]
        return pids[0] if all(pids) else None

    def exited_early(self) -> bool:
        return any(p.exited_early() for p in self.processes)

    def stop(self, timeout: float = 30) -> bool:
        return any([p.stop(timeout) for p in self.processes])

    def tail(self, lines: int = 20) -> str:
        return "\n".join(
            f"[{p.name}] {p.tail(lines // len(self.processes) + 1)}" for p in self.processes
        )


class RedisClusterService:
    """``streamrec stack up --redis-cluster``: three masters with a replica each on
    ``redis_cluster_port`` and the five ports after it, append-only files on, data under
    the state folder; the cluster is formed once, at its first start."""

    name = "redis-cluster"
    masters, replicas = 3, 1

    def __init__(self, settings: StackSettings) -> None:
        self.s = settings
        self.home = settings.state / "redis-cluster"
        count = self.masters * (1 + self.replicas)
        self.ports = [settings.redis_cluster_port + k for k in range(count)]
        self.process = ProcessGroup(
            [ManagedProcess(f"node-{port}", self.home / str(port)) for port in self.ports]
        )

    @property
    def endpoint(self) -> str:
        return f"redis://{self.s.host}:{self.port}/0"

    @property
    def port(self) -> int:
        return self.ports[0]

    def start(self) -> None:
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if binary is None or cli is None:
            raise StackError("redis-server and redis-cli are required (Debian: redis-server)")
        for port, process in zip(self.ports, self.process.processes, strict=True):
            if process.pid() is None:
                process.start(
                    [binary, "--bind", self.s.host, "--port", str(port), "--dir", ".",
                     "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "5000", "--appendonly", "yes",
                     "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
                     "--maxmemory", self.s.redis_maxmemory, "--logfile", ""]
                )  # fmt: skip
        deadline = time.monotonic() + 20
        while not all(port_open(self.s.host, p) for p in self.ports):
            if time.monotonic() > deadline or self.process.exited_early():
                raise StackError(f"the cluster's nodes did not start:\n{self.process.tail()}")
            time.sleep(0.1)
        if self._known_nodes() < len(self.ports):  # the first start: form the cluster
            subprocess.run(
                [cli, "--cluster", "create", *(f"{self.s.host}:{p}" for p in self.ports),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip

    def _known_nodes(self) -> int:
        try:
            info = redis.Redis(host=self.s.host, port=self.port, socket_timeout=2).cluster("info")
        except redis.RedisError:
            return 0
        return int(info.get("cluster_known_nodes", 0))

    def health(self) -> Health:
        states = []
        for port in self.ports:
            try:
                client = redis.Redis(host=self.s.host, port=port, socket_timeout=2)
                states.append(client.cluster("info").get("cluster_state"))
            except redis.RedisError as exc:
                return Health(False, f"node {port}: {exc}")
        if states != ["ok"] * len(self.ports):
            return Health(False, f"cluster_state {states}")
        roles = _roles(redis.Redis(host=self.s.host, port=self.port, socket_timeout=2))
        if roles != {"master": self.masters, "slave": self.masters * self.replicas}:
            return Health(False, f"nodes by role {roles}")
        return Health(True, f"{self.masters} masters, {self.replicas} replica each, state ok")


def _roles(client: redis.Redis) -> dict[str, int]:
    """Healthy nodes by role, as CLUSTER NODES lists them (a replica counts once it is
    attached to its master)."""
    roles: dict[str, int] = {}
    text = client.execute_command("CLUSTER", "NODES", NEVER_DECODE=True)
    for line in (text.decode() if isinstance(text, bytes) else str(text)).splitlines():
        fields = line.split()
        flags = set(fields[2].split(","))
        if "fail" in flags or "fail?" in flags or (fields[3] == "-" and "slave" in flags):
            continue
        role = "master" if "master" in flags else "slave"
        roles[role] = roles.get(role, 0) + 1
    return roles
