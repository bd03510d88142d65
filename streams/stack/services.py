"""The two services of the local stack: how each is installed, started and health-checked."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from streams.stack.config import StackSettings
from streams.stack.process import ManagedProcess


class StackError(RuntimeError):
    """A service could not be installed or started; the message says what to do."""


@dataclass
class Health:
    ok: bool
    detail: str


class KafkaService:
    """Apache Kafka 4 in KRaft mode (combined broker + controller), jars from Maven Central:
    one node, or node ``node`` of ``settings.kafka_nodes``."""

    def __init__(self, settings: StackSettings, node: int = 1) -> None:
        self.s = settings
        self.node = node
        self.name = "kafka" if settings.kafka_nodes == 1 else f"kafka-{node}"
        self.home = settings.state / self.name
        self.process = ManagedProcess(self.name, self.home)
        self.libs = settings.cache / f"kafka-{settings.kafka_version}" / "libs"

    @property
    def endpoint(self) -> str:
        return f"{self.s.host}:{self.port}"

    @property
    def port(self) -> int:
        return self.s.kafka_port + 2 * (self.node - 1)

    @property
    def controller_port(self) -> int:
        return self.s.controller_port + 2 * (self.node - 1)

    def install(self) -> None:
        """Resolve the broker and its dependencies with Maven into the cache (once)."""
        done = self.libs.parent / ".complete"
        if done.exists():
            return
        if shutil.which("mvn") is None or shutil.which("java") is None:
            raise StackError(
                "java and mvn are required (Debian: apt-get install openjdk-17-jre maven)"
            )
        self.libs.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            pom = Path(tmp) / "pom.xml"
            pom.write_bytes(resources.files("streams.stack").joinpath("kafka-pom.xml").read_bytes())
            cmd = [
                "mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}", "-DincludeScope=runtime",
                f"-Dkafka.version={self.s.kafka_version}",
            ]  # fmt: skip
            result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(
                f"mvn could not resolve Kafka:\n{result.stdout[-2000:]}{result.stderr}"
            )
        done.write_text(self.s.kafka_version + "\n")

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        log4j = resources.files("streams.stack").joinpath("log4j2.yaml")
        return [
            "java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{self.libs}/*", main, *args,
        ]  # fmt: skip

    def _write_config(self) -> Path:
        s = self.s
        data = self.home / "data"
        config = self.home / "server.properties"
        voters = ",".join(
            f"{k}@{s.host}:{s.controller_port + 2 * (k - 1)}" for k in range(1, s.kafka_nodes + 1)
        )
        copies, isr = s.replication
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={self.node}",
                    f"controller.quorum.voters={voters}",
                    f"listeners=PLAINTEXT://{s.host}:{self.port},"
                    f"CONTROLLER://{s.host}:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://{s.host}:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={data}",
                    f"num.partitions={s.default_partitions}",
                    "auto.create.topics.enable=false",
                    f"default.replication.factor={copies}",
                    f"min.insync.replicas={isr}",
                    f"offsets.topic.replication.factor={copies}",
                    "offsets.topic.num.partitions=8",
                    f"transaction.state.log.replication.factor={copies}",
                    f"transaction.state.log.min.isr={isr}",
                    f"share.coordinator.state.topic.replication.factor={copies}",
                    f"share.coordinator.state.topic.min.isr={isr}",
                    "group.initial.rebalance.delay.ms=0",
                    "log.flush.interval.ms=1000",
                    "",
                ]
            )
        )
        return config

    def start(self) -> None:
        self.install()
        self.home.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.home / "data" / "meta.properties").exists():
            self.storage_tool("format", "-t", self._cluster_id(), "-c", str(config))
        self.process.start(self._java("kafka.Kafka", str(config), heap=self.s.kafka_heap))

    def storage_tool(self, *args: str) -> str:
        """``kafka-storage`` (random-uuid, format): its output, or StackError."""
        done = subprocess.run(
            self._java("kafka.tools.StorageTool", *args), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise StackError(f"kafka-storage {args[0]} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def _cluster_id(self) -> str:
        """One id for every node of the stack, made once (nodes formatted with different
        ids refuse each other)."""
        path = self.s.state / "kafka-cluster-id"
        if not path.exists():
            made = self.storage_tool("random-uuid").strip().splitlines()[-1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(made + "\n")
        return path.read_text().strip()

    def health(self) -> Health:
        from confluent_kafka.admin import AdminClient

        try:
            admin = AdminClient({"bootstrap.servers": self.endpoint, "socket.timeout.ms": 2000})
            metadata = admin.list_topics(timeout=2)
        except Exception as exc:  # any client failure means "not ready yet"
            return Health(False, f"metadata request failed: {exc}")
        if len(metadata.brokers) < self.s.kafka_nodes:
            return Health(False, f"{len(metadata.brokers)} of {self.s.kafka_nodes} brokers up")
        return Health(True, f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topics")


class RedisService:
    """Debian's redis-server with the append-only file on, data under the state folder."""

    name = "redis"

    def __init__(self, settings: StackSettings) -> None:
        self.s = settings
        self.home = settings.state / "redis"
        self.process = ManagedProcess("redis", self.home)

    @property
    def endpoint(self) -> str:
        return self.s.redis_url

    @property
    def port(self) -> int:
        return self.s.redis_port

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("redis-server is required (Debian: apt-get install redis-server)")
        self.home.mkdir(parents=True, exist_ok=True)
        self.process.start(
            [
                binary, "--bind", self.s.host, "--port", str(self.s.redis_port),
                "--dir", str(self.home), "--appendonly", "yes", "--appendfsync", "everysec",
                "--save", "", "--daemonize", "no", "--protected-mode", "yes",
                "--maxmemory", self.s.redis_maxmemory, "--logfile", "",
            ]
        )  # fmt: skip

    def health(self) -> Health:
        import redis

        try:
            client = redis.Redis.from_url(self.endpoint, socket_timeout=2)
            client.ping()
            info = client.info("server")
        except Exception as exc:  # any client failure means "not ready yet"
            return Health(False, f"PING failed: {exc}")
        return Health(True, f"redis {info.get('redis_version')} answers PING")
