"""``streamrec stack up | down | status``: idempotent, waits for real readiness."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from streams.stack.config import StackSettings
from streams.stack.process import port_open
from streams.stack.redis_cluster import RedisClusterService
from streams.stack.services import KafkaService, RedisService, StackError

Service = KafkaService | RedisService | RedisClusterService


@dataclass
class ServiceStatus:
    name: str
    state: str  # running | external | stopped | starting | failed
    endpoint: str
    pid: int | None
    detail: str

    def line(self) -> str:
        pid = f"pid {self.pid}" if self.pid else "-"
        return f"{self.name:<13} {self.state:<8} {self.endpoint:<28} {pid:<11} {self.detail}"


def with_nodes(
    settings: StackSettings, asked: int | None, redis_cluster: bool | None = None
) -> StackSettings:
    """The settings with the Kafka node count (and the Redis Cluster) asked for on ``up``,
    remembered in the state folder, or those the running stack was started with
    (``down``, ``status``)."""
    update: dict[str, object] = {}
    for field, file, value, parse in (
        ("kafka_nodes", "kafka-nodes", asked, int),
        ("redis_cluster", "redis-cluster-on", redis_cluster, lambda text: text == "True"),
    ):
        remembered = settings.state / file
        if value is not None:
            remembered.parent.mkdir(parents=True, exist_ok=True)
            remembered.write_text(f"{value}\n")
        elif remembered.exists():
            value = parse(remembered.read_text().strip())
        if value is not None:
            update[field] = value
    return settings.model_copy(update=update)


def services(settings: StackSettings) -> list[Service]:
    nodes = [KafkaService(settings, k) for k in range(1, settings.kafka_nodes + 1)]
    cluster = [RedisClusterService(settings)] if settings.redis_cluster else []
    return [*nodes, RedisService(settings), *cluster]


def status_of(service: Service) -> ServiceStatus:
    pid = service.process.pid()
    health = service.health() if port_open(service.s.host, service.port) else None
    if pid is None:
        state = "external" if health and health.ok else "stopped"
    else:
        state = "running" if health and health.ok else "starting"
    detail = health.detail if health else "port closed"
    return ServiceStatus(service.name, state, service.endpoint, pid, detail)


def up(settings: StackSettings, log: Callable[[str], None] = print) -> list[ServiceStatus]:
    """Start whatever is not running yet, then wait until each one answers for real."""
    started = []
    for service in services(settings):
        current = status_of(service)
        if current.state in ("running", "external"):
            log(f"{service.name}: already {current.state} at {current.endpoint}")
            continue
        if current.state == "stopped" and port_open(settings.host, service.port):
            raise StackError(
                f"port {service.port} is taken by something that is not a healthy {service.name}"
            )
        if current.state == "stopped":
            log(f"{service.name}: starting on {service.endpoint}")
            service.start()
        started.append(service)
    for service in started:
        _wait_ready(service, settings.ready_timeout_s)
        log(f"{service.name}: ready ({service.health().detail})")
    return [status_of(s) for s in services(settings)]


def _wait_ready(service: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(service.s.host, service.port) and service.health().ok:
            return
        if service.process.exited_early():
            raise StackError(f"{service.name} exited during start-up:\n{service.process.tail()}")
        time.sleep(0.5)
    raise StackError(f"{service.name} not ready after {timeout:.0f}s:\n{service.process.tail()}")


def down(settings: StackSettings, log: Callable[[str], None] = print) -> None:
    """Stop only the processes this stack started (by pid file), in reverse start order."""
    for service in reversed(services(settings)):
        if service.process.stop():
            log(f"{service.name}: stopped")
        else:
            log(f"{service.name}: not started by this stack, left alone")


def status(settings: StackSettings) -> list[ServiceStatus]:
    return [status_of(s) for s in services(settings)]
