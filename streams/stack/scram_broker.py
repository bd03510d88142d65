"""A throw-away single KRaft broker whose only client listener is SASL_SSL with SCRAM-SHA-512,
for tests of ``KafkaConnection``'s secured settings against the real thing.

It reuses the jars ``streamrec stack`` assembled (``~/.cache/streamrec``), runs on free
ports in a folder of its own, and never touches the shared stack's broker. SCRAM users
are written at format time (``kafka-storage format --add-scram``), so they exist before
the first client connects; the TLS key store is a PKCS#12 file made with openssl.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from streams.stack.config import StackSettings
from streams.stack.ephemeral import TlsFiles, free_port
from streams.stack.process import end_child, port_open
from streams.stack.services import KafkaService, StackError

MECHANISM = "SCRAM-SHA-512"


class ScramBroker:
    """``users`` maps SCRAM user names to passwords; ``admin`` is the broker's own login."""

    def __init__(
        self,
        folder: Path,
        tls: TlsFiles,
        users: dict[str, str],
        admin: tuple[str, str] = ("broker-admin", "broker-admin-secret"),
        stack: StackSettings | None = None,
    ) -> None:
        self.folder = folder
        self.tls = tls
        self.users = {admin[0]: admin[1], **users}
        self.admin = admin
        self.kafka = KafkaService(stack or StackSettings())
        self.port, self.controller_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _keystore(self, password: str) -> Path:
        store = self.folder / "broker.p12"
        result = subprocess.run(
            ["openssl", "pkcs12", "-export", "-in", str(self.tls.cert), "-inkey",
             str(self.tls.key), "-name", "broker", "-out", str(store), "-passout",
             f"pass:{password}"],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"openssl pkcs12 failed: {result.stderr}")
        return store

    def _config(self) -> Path:
        secret = "keystore-secret"
        store = self._keystore(secret)
        name, password = self.admin
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{name}" password="{password}";'
        )
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=SASL_SSL://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=SASL_SSL",
            f"sasl.enabled.mechanisms={MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={store}",
            f"ssl.keystore.password={secret}",
            f"ssl.key.password={secret}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.tls.ca}",
            f"log.dirs={self.folder / 'data'}",
            "num.partitions=1",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
        config = self.folder / "server.properties"
        config.write_text("\n".join(lines))
        return config

    def start(self, timeout: float = 120) -> ScramBroker:
        self.kafka.install()
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self._config()
        cluster = self.kafka.storage_tool("random-uuid").strip().splitlines()[-1]
        scram = []
        for user, password in self.users.items():
            scram += ["--add-scram", f"{MECHANISM}=[name={user},password={password}]"]
        self.kafka.storage_tool("format", "-t", cluster, "-c", str(config), *scram)
        log = (self.folder / "broker.log").open("ab")
        self.proc = subprocess.Popen(
            self.kafka._java("kafka.Kafka", str(config), heap="384m"),
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"the SCRAM broker exited at start-up:\n{self.tail()}")
            if port_open("127.0.0.1", self.port) and self._answers():
                return self
            time.sleep(0.5)
        self.stop()
        raise StackError(f"the SCRAM broker was not ready after {timeout:.0f}s:\n{self.tail()}")

    def _answers(self) -> bool:
        from confluent_kafka.admin import AdminClient

        name, password = self.admin
        admin = AdminClient(
            {
                "bootstrap.servers": self.bootstrap,
                "security.protocol": "sasl_ssl",
                "sasl.mechanism": MECHANISM,
                "sasl.username": name,
                "sasl.password": password,
                "ssl.ca.location": str(self.tls.ca),
                "socket.timeout.ms": 3000,
            }
        )
        try:
            return bool(admin.list_topics(timeout=3).brokers)
        except Exception:  # any client failure means "not ready yet"
            return False

    def tail(self, lines: int = 30) -> str:
        path = self.folder / "broker.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        end_child(self.proc)
        self.proc = None

    def __enter__(self) -> ScramBroker:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
