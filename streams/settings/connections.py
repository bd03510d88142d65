"""How to reach Kafka and Redis, the topics, what an event may hold, how a worker stops:
shared by every process's settings, so an endpoint is spelled the same way everywhere."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator


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
    # a Redis Cluster: ``url`` names any node, the client finds the others and each key's
    # slot (every script touches one slot: docs/redis-schema.md)
    cluster: bool = False
    # replicas that must hold a batch's writes before it is committed (each master's,
    # on a cluster): 0 = do not wait. With async replication a failover can otherwise
    # lose writes already declared applied; on one server the fences notice that and
    # the worker replays (docs/reliability.md), across a cluster's masters they cannot.
    wait_replicas: int = Field(default=0, ge=0, le=16)
    wait_timeout_s: float = Field(default=5.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _cluster_url(self) -> RedisConnection:
        if self.cluster:
            if self.url.startswith("unix://"):
                raise ValueError("a Redis Cluster is reached over TCP: use a redis:// URL")
            database = urlsplit(self.url).path.strip("/")
            if database not in ("", "0"):
                raise ValueError(f"a Redis Cluster has only database 0, the URL names {database}")
        return self

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
