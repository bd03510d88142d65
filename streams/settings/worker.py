"""``streamrec worker``'s settings: the connections, then one nested group per path."""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from streams.settings.connections import (
    EventLimits,
    KafkaConnection,
    Lifecycle,
    RedisConnection,
    TopicSettings,
)
from streams.settings.loading import BLEND_RENAMES, WORKER_RENAMES, StreamrecSettings
from streams.settings.paths import (
    BlendSettings,
    ContentSettings,
    EmbeddingSettings,
    ItemCFSettings,
    RefreshSettings,
    ServedSettings,
    UserCFSettings,
)


class WorkerSettings(StreamrecSettings):
    """Settings of ``streamrec worker`` and of the command-line tools that talk to Kafka."""

    RENAMED: ClassVar[dict[str, str]] = WORKER_RENAMES | BLEND_RENAMES

    app_id: str = "streamrec"
    kafka: KafkaConnection = KafkaConnection()
    redis: RedisConnection = RedisConnection()
    topics: TopicSettings = TopicSettings()
    limits: EventLimits = EventLimits()
    lifecycle: Lifecycle = Lifecycle()
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "warning"  # Faust is chatty
    log_format: Literal["json", "text"] = "json"
    # a batch's list work grows with its distinct users and items, not its events; under a
    # backlog batches fill up to this (streams.worker.gather), when idle the window closes
    # first, so batches stay small and lists fresh. Full ML-100K, one worker: 4,000 1,368
    # events/s, 8,000 1,543, 16,000 1,744; but a batch in flight holds up a rebalance, and
    # the two-worker demo took 53 s at 8,000 and 110 s at 16,000 (docs/performance.md)
    batch_max: int = Field(default=8000, ge=1, le=100_000)
    batch_within_s: float = Field(default=0.05, gt=0, le=10)
    session_timeout_s: float = Field(default=10, ge=1, le=300)
    user_cf: UserCFSettings = UserCFSettings()
    item_cf: ItemCFSettings = ItemCFSettings()
    content: ContentSettings = ContentSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    refresh: RefreshSettings = RefreshSettings()
    blend: BlendSettings = BlendSettings()
    served: ServedSettings = ServedSettings()
    # the refresher and the fuser in a child process of the worker (a second core; both
    # are Redis in, Redis out) instead of on its event loop between the agents' batches
    lists_process: bool = True
    data_dir: str = ".state/worker"
    cache_dir: str = "~/.cache/streamrec"

    @model_validator(mode="after")
    def _derived(self) -> WorkerSettings:
        """What a path takes from other settings: the rating range of the event limits and
        the by-item partitions the history cap is divided over."""
        bounds = (self.limits.rating_min, self.limits.rating_max)
        partitions = self.topics.ratings_partitions
        self.user_cf = dataclasses.replace(
            self.user_cf, rating_bounds=bounds, history_partitions=partitions
        )
        self.embedding = dataclasses.replace(self.embedding, rating_bounds=bounds)
        return self

    @model_validator(mode="after")
    def _popularity_in_range(self) -> WorkerSettings:
        """The popularity weight saturates at 2^900 (streams.engines.usercf); refuse a half-life
        that would reach it within two years, naming the fix."""
        from streams.engines.usercf import POPULARITY_EXPONENT

        c = self.user_cf
        horizon = time.time() + 2 * 365 * 86_400
        exponent = (horizon - c.popularity_epoch_s) / c.popularity_half_life_s
        if exponent > POPULARITY_EXPONENT[1]:
            shortest = (horizon - c.popularity_epoch_s) / POPULARITY_EXPONENT[1]
            raise ValueError(
                f"user_cf.popularity_half_life_s {c.popularity_half_life_s:g} is too short "
                f"for popularity_epoch_s {c.popularity_epoch_s:g}: use at least "
                f"{shortest:.0f} s, or move the epoch closer to now (before the first event)"
            )
        return self

    @property
    def by_item_topic(self) -> str:
        """Internal topic: validated ratings re-keyed by item, so that each item's pair
        expansion happens in exactly one place."""
        return f"{self.app_id}-ratings-by-item"
