"""Configuration shared by every streamrec process, read from ``STREAMREC_*`` variables.

Each process has exactly one settings class (worker here, reader in ``app.settings``,
local stack in ``streams.stack.config``). They share the connection models below so
that a Kafka or Redis endpoint is spelled the same way everywhere. Bad configuration
is refused at start-up with a message naming the variable, never discovered later.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.algo.blend import COLD_START_RATINGS, DEFAULT_WEIGHTS

ENV_PREFIX = "STREAMREC_"


class KafkaConnection(BaseModel):
    """How to reach the Kafka cluster (plaintext by default, SASL/TLS optional)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaConnection:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError("SASL needs sasl_mechanism, sasl_username and sasl_password")
        return self

    def confluent_config(self) -> dict[str, str | int | float | bool]:
        """librdkafka settings for confluent-kafka producers, consumers and admin."""
        config: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.sasl_mechanism and self.sasl_username and self.sasl_password:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile:
            config["ssl.ca.location"] = self.ssl_cafile
        return config


class RedisConnection(BaseModel):
    """How to reach Redis; the password is kept out of the URL so it never gets logged."""

    url: str = "redis://127.0.0.1:6379/0"
    password: SecretStr | None = None
    username: str | None = None
    ssl_ca_certs: str | None = None  # CA bundle for rediss:// (Redis TLS)

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
        return value

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.password is not None:
            kwargs["password"] = self.password.get_secret_value()
        if self.username:
            kwargs["username"] = self.username
        if self.ssl_ca_certs:
            kwargs["ssl_ca_certs"] = self.ssl_ca_certs
        return kwargs


class TopicSettings(BaseModel):
    """Names and partition counts of the topics streamrec reads and writes."""

    ratings: str = "ratings"
    items: str = "items"
    dlq: str = "ratings.dlq"
    ratings_partitions: int = Field(default=8, ge=1, le=1024)
    items_partitions: int = Field(default=1, ge=1, le=1024)
    dlq_partitions: int = Field(default=1, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1, le=16)


class EventLimits(BaseModel):
    """What a valid rating event may contain; the stream and the HTTP ingest share it."""

    rating_min: float = 0.5
    rating_max: float = 5.0
    max_id_length: int = Field(default=256, ge=1, le=4096)
    # a record's value: far above any real event, far below the broker's 1 MB
    max_event_bytes: int = Field(default=65_536, ge=256, le=1_000_000)
    # how far ``ts`` may run ahead of the record's own produce time (clock skew)
    max_future_s: float = Field(default=86_400.0, ge=0, le=10 * 365 * 86_400)

    @model_validator(mode="after")
    def _ordered_range(self) -> EventLimits:
        if not self.rating_min < self.rating_max:
            raise ValueError("rating_min must be below rating_max")
        return self


class Lifecycle(BaseModel):
    """How the worker stops and how its liveness is judged (``STREAMREC_LIFECYCLE__*``)."""

    # from the first SIGTERM/SIGINT to a hard exit; keep it under the pod's grace period
    shutdown_timeout_s: float = Field(default=20.0, gt=0, le=3600)
    # how long a stop waits for in-flight batches to be acknowledged before abandoning them
    shutdown_drain_s: float = Field(default=5.0, ge=0, le=3600)
    # /livez answers 503 once the event loop's heartbeat is older than this
    liveness_stale_s: float = Field(default=30.0, ge=2, le=3600)

    @model_validator(mode="after")
    def _drain_within_timeout(self) -> Lifecycle:
        if self.shutdown_drain_s >= self.shutdown_timeout_s:
            raise ValueError("shutdown_drain_s must be below shutdown_timeout_s")
        return self


LEGACY_BLEND = ("STREAMREC_BLEND_ITEM_CF", "STREAMREC_BLEND_USER_CF", "STREAMREC_BLEND_CONTENT",
                "STREAMREC_BLEND_EMBEDDING", "STREAMREC_BLEND_POPULAR",
                "STREAMREC_COLD_START_RATINGS")  # fmt: skip


def refuse_legacy_blend(data: Any) -> Any:
    """The blend's variables were the reader's; the worker fuses the served list now and
    reads ``STREAMREC_BLEND__*``. An old name would be silently ignored: refuse it."""
    moved = sorted(k for k in os.environ if k.upper() in LEGACY_BLEND)
    if moved:
        raise ValueError(
            f"{', '.join(moved)}: the blend is set on the worker now, as "
            "STREAMREC_BLEND__ITEM_CF, __USER_CF, __CONTENT, __EMBEDDING, __POPULAR and "
            "__COLD_START_RATINGS"
        )
    return data


class BlendSettings(BaseModel):
    """``STREAMREC_BLEND__*``: the weights of the served list's fusion (0 leaves a source
    out) and the cold-start route; chosen on the first 50,000 events of ML-100K
    (docs/evaluation.md). The worker fuses, so the worker reads them."""

    item_cf: float = Field(default=DEFAULT_WEIGHTS["item-cf"], ge=0)
    user_cf: float = Field(default=DEFAULT_WEIGHTS["user-cf"], ge=0)
    content: float = Field(default=DEFAULT_WEIGHTS["content"], ge=0)
    embedding: float = Field(default=DEFAULT_WEIGHTS["embedding"], ge=0)
    popular: float = Field(default=DEFAULT_WEIGHTS["popular"], ge=0)
    # fewer ratings than this: only content and popularity (0 turns routing off)
    cold_start_ratings: int = Field(default=COLD_START_RATINGS, ge=0, le=1000)

    def weights(self) -> dict[str, float]:
        return {
            "item-cf": self.item_cf,
            "user-cf": self.user_cf,
            "content": self.content,
            "embedding": self.embedding,
            "popular": self.popular,
        }


class ServedSettings(BaseModel):
    """``STREAMREC_SERVED__*``: the served list the worker fuses for each user after any
    of their source lists changed, ready for the reader (and frontends) in one read."""

    enabled: bool = True
    size: int = Field(default=50, ge=1, le=1000)  # items stored; any n up to it is a slice
    interval_s: float = Field(default=0.02, gt=0, le=10)  # how often the due queue is polled
    round_max: int = Field(default=500, ge=1, le=100_000)  # users fused per round trip
    # when the popular list's order changes: users re-fused per second, oldest first
    popular_refresh_per_s: int = Field(default=10, ge=0, le=100_000)


class WorkerSettings(BaseSettings):
    """Settings of ``streamrec worker`` and of the command-line tools that talk to Kafka."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore"
    )

    app_id: str = "streamrec"
    kafka: KafkaConnection = KafkaConnection()
    redis: RedisConnection = RedisConnection()
    topics: TopicSettings = TopicSettings()
    limits: EventLimits = EventLimits()
    lifecycle: Lifecycle = Lifecycle()
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "warning"  # Faust is chatty
    log_format: Literal["json", "text"] = "json"
    # a batch's list work grows with its distinct users and items, not its events: under a
    # backlog 4,000 events per batch measured 1.2x the events/s of 1,000 (10,000: no more);
    # when idle the window closes first, so batches stay small and lists fresh
    batch_max: int = Field(default=4000, ge=1, le=100_000)
    batch_within_s: float = Field(default=0.05, gt=0, le=10)
    neighbourhood_size: int = Field(default=50, ge=1, le=1000)
    predict_k: int = Field(default=40, ge=1, le=1000)
    topn_size: int = Field(default=50, ge=1, le=1000)
    min_support: int = Field(default=1, ge=1)
    # the caps that bound the cost of one event (docs/algorithm.md); 0 = off = exact
    fan_out_cap: int = Field(default=0, ge=0, le=100_000)
    history_cap: int = Field(default=0, ge=0, le=10_000_000)
    popularity_half_life_s: float = Field(default=30 * 86_400, gt=0)
    # t0 of the popularity weight 2^((ts − t0)/half-life); set once, before the first event
    popularity_epoch_s: float = Field(default=1.5e9, ge=0, lt=1e11)
    item_cf: bool = True  # the item-to-item path (a second agent on the ratings topic)
    item_cf_kmax: int = Field(default=100, ge=0, le=100_000)
    item_cf_fmax: int = Field(default=0, ge=0)
    item_cf_similar_size: int = Field(default=100, ge=1, le=10_000)
    item_cf_recent: int = Field(default=10, ge=1, le=1000)
    item_cf_decay: float = Field(default=0.9, gt=0, le=1)
    item_cf_similarity: Literal["cosine", "pearson"] = "cosine"
    # c(i, j) entries of the rows re-scored that the worker keeps (16 bytes each: 4M ≈ 64 MB;
    # ML-100K's rows hold ~1.1M); 0 = read every row back from Redis each batch
    item_cf_row_cache_entries: int = Field(default=4_000_000, ge=0, le=1_000_000_000)
    content: bool = True  # content-based similar lists and user lists (the items topic)
    content_genre_weight: float = Field(default=1.0, ge=0)
    content_year_weight: float = Field(default=0.5, ge=0)
    content_words_weight: float = Field(default=0.5, ge=0)
    content_tags_weight: float = Field(default=0.5, ge=0)
    content_similar_size: int = Field(default=100, ge=1, le=10_000)
    # the hybrid path (a third agent on the ratings topic): the embedding learned from
    # the stream, neural (attribute network + id) or plain MF, and users' content lists
    hybrid: bool = True
    embedding: Literal["neural", "mf"] = "neural"
    embedding_factors: int = Field(default=16, ge=1, le=512)
    embedding_learning_rate: float = Field(default=0.1, gt=0, le=1)
    embedding_bias_rate: float = Field(default=0.05, gt=0, le=1)
    embedding_regularisation: float = Field(default=0.0, ge=0, le=1)
    embedding_hidden: int = Field(default=16, ge=1, le=512)
    embedding_network_rate: float = Field(default=0.03, ge=0, le=1)
    refresh_budget: int = Field(default=100, ge=0, le=100_000)
    refresh_interval_s: float = Field(default=1.0, gt=0)
    session_timeout_s: float = Field(default=10, ge=1, le=300)
    blend: BlendSettings = BlendSettings()
    served: ServedSettings = ServedSettings()
    data_dir: str = ".state/worker"
    cache_dir: str = "~/.cache/streamrec"

    _no_legacy_blend = model_validator(mode="before")(refuse_legacy_blend)

    @model_validator(mode="after")
    def _popularity_in_range(self) -> WorkerSettings:
        """The popularity weight saturates at 2^900 (streams.engines.usercf); refuse a half-life
        that would reach it within two years, naming the fix."""
        from streams.engines.usercf import POPULARITY_EXPONENT

        horizon = time.time() + 2 * 365 * 86_400
        exponent = (horizon - self.popularity_epoch_s) / self.popularity_half_life_s
        if exponent > POPULARITY_EXPONENT[1]:
            shortest = (horizon - self.popularity_epoch_s) / POPULARITY_EXPONENT[1]
            raise ValueError(
                f"popularity_half_life_s {self.popularity_half_life_s:g} is too short for "
                f"popularity_epoch_s {self.popularity_epoch_s:g}: use at least {shortest:.0f} "
                "s, or move the epoch closer to now (before the first event)"
            )
        return self

    @property
    def by_item_topic(self) -> str:
        """Internal topic: validated ratings re-keyed by item, so that each item's pair
        expansion happens in exactly one place."""
        return f"{self.app_id}-ratings-by-item"


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Build a settings object or exit with status 2 and a readable list of what is wrong."""
    try:
        return cls()
    except ValidationError as exc:
        lines = [f"streamrec: refusing to start, bad configuration ({cls.__name__}):"]
        for error in exc.errors():
            name = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
            lines.append(f"  {name}: {error['msg']}")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
