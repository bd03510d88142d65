"""Settings of the reader process (``STREAMREC_READER_*`` plus the shared connections)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.settings import ENV_PREFIX, EventLimits, KafkaConnection, RedisConnection


class ReaderSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore"
    )

    kafka: KafkaConnection = KafkaConnection()
    redis: RedisConnection = RedisConnection()
    limits: EventLimits = EventLimits()
    reader_host: str = "127.0.0.1"
    reader_port: int = Field(default=8080, ge=1, le=65535)
    redis_pool_size: int = Field(default=32, ge=1, le=1024)
