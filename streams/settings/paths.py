"""Each path's settings, nested (``STREAMREC_<PATH>__<NAME>``) and consumed directly: a
path's settings *are* its engine's configuration (the math's own dataclass, bounds
included), plus what only the worker needs (whether the path runs, cache sizes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Interval
from pydantic import BaseModel, Field

from streams.algo.blend import COLD_START_RATINGS, DEFAULT_WEIGHTS, PER_REASON
from streams.algo.content import ContentConfig
from streams.algo.embedding import EmbeddingConfig
from streams.algo.itemcf import ItemCFConfig
from streams.algo.usercf import UserCFConfig

SIMILAR_EVERY_S = 5.0  # docs/performance.md, seventeenth round


@dataclass(frozen=True)
class UserCFSettings(UserCFConfig):
    """``STREAMREC_USER_CF__*``: the user-based path (the by-item agent; always on)."""


@dataclass(frozen=True)
class ItemCFSettings(ItemCFConfig):
    """``STREAMREC_ITEM_CF__*``: the item-to-item path."""

    enabled: bool = True
    # c(i, j) entries of the rows re-scored that the worker keeps (16 bytes each: 4M ≈ 64 MB;
    # ML-100K's rows hold ~1.1M); 0 = read every row back from Redis each batch
    row_cache_entries: Annotated[int, Interval(ge=0, le=1_000_000_000)] = 4_000_000
    # a rated item's similar list is re-scored at most once per this many seconds (rated
    # again sooner: due then; streams/engines/pace.py); 0 = in every batch that rates it
    similar_every_s: Annotated[float, Interval(ge=0, le=3600)] = SIMILAR_EVERY_S


@dataclass(frozen=True)
class ContentSettings(ContentConfig):
    """``STREAMREC_CONTENT__*``: content-based similar lists and users' content lists
    (the items topic)."""

    enabled: bool = True


@dataclass(frozen=True)
class EmbeddingSettings(EmbeddingConfig):
    """``STREAMREC_EMBEDDING__*``: the hybrid path, the embedding learned from the stream,
    neural (attribute network + id) or plain MF, and its users' lists."""

    enabled: bool = True
    kind: Literal["neural", "mf"] = "neural"
    topn_size: Annotated[int, Interval(ge=1, le=1000)] = 50
    # as for the item-to-item path: the embedding similar lists' pace
    similar_every_s: Annotated[float, Interval(ge=0, le=3600)] = SIMILAR_EVERY_S


class RefreshSettings(BaseModel):
    """``STREAMREC_REFRESH__*``: the user-based lists the refresher re-ranks per tick after
    their neighbours' sums moved."""

    budget: int = Field(default=100, ge=0, le=100_000)
    interval_s: float = Field(default=1.0, gt=0)
    # of each interval, the most a tick may spend while the stream runs; 0.9 once it
    # stops. Less leaves the event path and Redis more CPU, but more users stale when the
    # stream stops: at 0.1 the list process used 26% of a core instead of 49% during a full
    # ML-100K replay, for +2% events/s (inside the noise) and a drain of 4.3-5.0 s instead
    # of 3.0-3.3 (docs/performance.md, ninth round). At most 0.5: a tick must not overrun
    # its timer when the rounds run up to 4x slower than measured.
    busy_share: float = Field(default=1 / 3, gt=0, le=0.5)
    # the convergence sweep (streams/worker/sweep.py): once the stream is quiet, every
    # user's lists are re-ranked once. It costs the lists process ~10 s on ML-100K and
    # ~145 s at 50,000 users, about 50 minutes at a million (docs/algorithm.md,
    # Freshness); off, a list converges at its user's or a co-rater's next event
    sweep: bool = True


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
    # at most this many items per "because" item in the served list (0 = no cap): one
    # recent rating otherwise fills most of a top-10 with its neighbours
    per_reason: int = Field(default=PER_REASON, ge=0, le=1000)

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
