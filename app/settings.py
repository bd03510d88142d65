"""Settings of the reader process (``STREAMREC_READER_*`` plus the shared connections)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.blend import COLD_START_RATINGS, DEFAULT_WEIGHTS
from streams.settings import (
    ENV_PREFIX,
    EventLimits,
    KafkaConnection,
    RedisConnection,
    TopicSettings,
)


class ReaderSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore"
    )

    kafka: KafkaConnection = KafkaConnection()
    redis: RedisConnection = RedisConnection()
    topics: TopicSettings = TopicSettings()
    limits: EventLimits = EventLimits()
    reader_host: str = "127.0.0.1"
    reader_port: int = Field(default=8080, ge=1, le=65535)
    redis_pool_size: int = Field(default=32, ge=1, le=1024)
    api_key: SecretStr | None = None  # when set, POST /v1/ratings needs X-API-Key
    max_n: int = Field(default=50, ge=1, le=1000)  # at most the worker's topn_size
    max_k: int = Field(default=50, ge=1, le=1000)  # at most the neighbourhood size
    predict_k: int = Field(default=40, ge=1, le=1000)
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    # weights of the served blend (streams.blend); 0 leaves a source out
    blend_item_cf: float = Field(default=DEFAULT_WEIGHTS["item-cf"], ge=0)
    blend_user_cf: float = Field(default=DEFAULT_WEIGHTS["user-cf"], ge=0)
    blend_content: float = Field(default=DEFAULT_WEIGHTS["content"], ge=0)
    blend_embedding: float = Field(default=DEFAULT_WEIGHTS["embedding"], ge=0)
    blend_popular: float = Field(default=DEFAULT_WEIGHTS["popular"], ge=0)
    # fewer ratings than this: only content and popularity (0 turns routing off)
    cold_start_ratings: int = Field(default=COLD_START_RATINGS, ge=0, le=1000)

    def blend_weights(self) -> dict[str, float]:
        return {
            "item-cf": self.blend_item_cf,
            "user-cf": self.blend_user_cf,
            "content": self.blend_content,
            "embedding": self.blend_embedding,
            "popular": self.blend_popular,
        }
