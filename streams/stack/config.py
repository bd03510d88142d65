"""Settings of ``streamrec stack``: where the broker and Redis run and keep their data."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.settings import ENV_PREFIX


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "STACK_", extra="ignore")

    state_dir: Path = Path(".state")
    cache_dir: Path = Path("~/.cache/streamrec")
    host: str = "127.0.0.1"
    kafka_version: str = Field(default="4.1.1", pattern=r"^4\.\d+\.\d+$")
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int = Field(default=9093, ge=1, le=65535)
    kafka_heap: str = Field(default="768m", pattern=r"^\d+[mg]$")
    # KRaft nodes (each a broker and a controller); with more than one, node k listens on
    # kafka_port + 2(k-1) and controller_port + 2(k-1), topics get min(3, nodes) copies
    # and min.insync.replicas one less (docs/reliability.md)
    kafka_nodes: int = Field(default=1, ge=1, le=5)
    default_partitions: int = Field(default=8, ge=1)
    redis_port: int = Field(default=6379, ge=1, le=65535)
    redis_maxmemory: str = "0"
    # ``up --redis-cluster``: three masters and their replicas on this port and the five
    # after it (each node's cluster bus on the port + 10000)
    redis_cluster: bool = False
    redis_cluster_port: int = Field(default=7000, ge=1, le=55530)
    ready_timeout_s: float = Field(default=120, gt=0)

    @property
    def state(self) -> Path:
        return self.state_dir.expanduser().resolve()

    @property
    def cache(self) -> Path:
        return self.cache_dir.expanduser().resolve()

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"{self.host}:{self.kafka_port + 2 * k}" for k in range(self.kafka_nodes))

    @property
    def replication(self) -> tuple[int, int]:
        """(replication factor, min.insync.replicas) of the stack's topics."""
        copies = min(3, self.kafka_nodes)
        return copies, max(1, copies - 1)

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis_port}/0"
