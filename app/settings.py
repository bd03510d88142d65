"""Settings of the reader process (``STREAMREC_READER_*`` plus the shared connections)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from streams.settings import (
    EventLimits,
    KafkaConnection,
    RedisConnection,
    TopicSettings,
    UserCFSettings,
)
from streams.settings.loading import BLEND_RENAMES, StreamrecSettings


class ReaderSettings(StreamrecSettings):
    RENAMED: ClassVar[dict[str, str]] = BLEND_RENAMES  # the worker fuses the served list now

    kafka: KafkaConnection = KafkaConnection()
    redis: RedisConnection = RedisConnection()
    topics: TopicSettings = TopicSettings()
    limits: EventLimits = EventLimits()
    # the worker's user-based settings: /predict, /because and /similarity weigh
    # similarities as the worker's lists do (min_support, shrinkage)
    user_cf: UserCFSettings = UserCFSettings()
    reader_host: str = "127.0.0.1"
    reader_port: int = Field(default=8080, ge=1, le=65535)
    # uvicorn worker processes: the routes are CPU-bound in Python, one core each
    reader_workers: int = Field(default=1, ge=1, le=64)
    redis_pool_size: int = Field(default=32, ge=1, le=1024)
    # writes are closed unless a key is set (clients send it in X-API-Key) or anonymous
    # writes are asked for explicitly (a local demo); the two together are refused
    api_key: SecretStr | None = None
    allow_anonymous_writes: bool = False
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)  # POST bodies (413)
    # /predict and /because: other users' ids and exact ratings, or only aggregates
    hide_neighbour_ratings: bool = False
    max_n: int = Field(default=50, ge=1, le=1000)  # at most the worker's topn_size
    # the recommendations route's common form answered without FastAPI's machinery (the
    # same bytes: app/fast.py); off sends every request through FastAPI
    fast_route: bool = True
    max_k: int = Field(default=50, ge=1, le=1000)  # at most the neighbourhood size
    predict_k: int = Field(default=40, ge=1, le=1000)
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    # POST /v1/ratings waits at most this long for Kafka to acknowledge the events, then
    # answers 503 (retry) instead of holding the client for librdkafka's 5 minutes
    produce_timeout_s: float = Field(default=5.0, gt=0, le=300)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"

    @field_validator("api_key")
    @classmethod
    def _usable_key(cls, value: SecretStr | None) -> SecretStr | None:
        """An empty key (what compose passes for an unset variable) must not mean "any
        header will do"; a key HTTP cannot carry unchanged could never be matched."""
        if value is None:
            return None
        key = value.get_secret_value()
        if not key.strip():
            raise ValueError("is empty: set a key, or leave the variable unset")
        if not all(33 <= ord(c) <= 126 for c in key):
            raise ValueError("must be printable ASCII without spaces (it travels in a header)")
        return value

    @model_validator(mode="after")
    def _one_write_policy(self) -> ReaderSettings:
        if self.api_key is not None and self.allow_anonymous_writes:
            raise ValueError(
                "STREAMREC_API_KEY and STREAMREC_ALLOW_ANONYMOUS_WRITES=true contradict "
                "each other: choose one"
            )
        return self
