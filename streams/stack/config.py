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
    default_partitions: int = Field(default=8, ge=1)
    redis_port: int = Field(default=6379, ge=1, le=65535)
    redis_maxmemory: str = "0"
    ready_timeout_s: float = Field(default=120, gt=0)

    @property
    def state(self) -> Path:
        return self.state_dir.expanduser().resolve()

    @property
    def cache(self) -> Path:
        return self.cache_dir.expanduser().resolve()

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis_port}/0"
