"""One micro-batch of the CF engine: expand pairs, apply per user and per item, refresh lists.

No Kafka here: the Faust agent hands in the events of one partition, in offset order, and
the offset that ends them. Kept apart from the wiring so that tests and the evaluation can
drive the same code without a broker.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from streams import metrics
from streams.cf import recommend
from streams.cf.expansion import BatchDeltas, expand_item_events
from streams.storage import Store, decode_pairs


@dataclass(frozen=True)
class EngineConfig:
    neighbourhood_size: int = 50
    predict_k: int = 40
    topn_size: int = 50
    min_support: int = 1
    rating_bounds: tuple[float, float] = (0.5, 5.0)
    popularity_half_life_s: float = 30 * 86_400
    popularity_epoch: float = 1.5e9


@dataclass(frozen=True)
class ByItemEvent:
    """A validated rating on its way to its item's owner."""

    user_id: str
    item_id: str
    rating: float | None
    source_offset: int
    ts: float
    produced_at: float


@dataclass
class UnitResult:
    acted: list[str] = field(default_factory=list)
    marked_stale: int = 0
    moved_on: int = 0


class Engine:
    def __init__(self, store: Store, config: EngineConfig) -> None:
        self.store = store
        self.config = config

    def _popularity_weight(self, ts: float) -> float:
        c = self.config
        return math.pow(2.0, (ts - c.popularity_epoch) / c.popularity_half_life_s)

    async def apply_unit(
        self, partition: int, batch_end: int, events: list[ByItemEvent]
    ) -> UnitResult:
        """Apply events (one partition, offset order) ending at ``batch_end``, at most once."""
        per_item: dict[str, list[ByItemEvent]] = {}
        for event in events:
            per_item.setdefault(event.item_id, []).append(event)
        raters = await self.store.load_raters(sorted(per_item))
        deltas = BatchDeltas()
        popularity: dict[str, float] = {}
        for item, item_events in per_item.items():
            state = raters[item]
            for e in item_events:
                before = state.rating(e.user_id)
                expand_item_events(item, state, [(e.user_id, e.rating, e.source_offset)], deltas)
                after = state.rating(e.user_id)
                sign = (after is not None) - (before is not None)
                if sign:
                    popularity[item] = popularity.get(item, 0.0) + sign * self._popularity_weight(
                        e.ts
                    )
        user_stats = await self.store.apply_users(partition, batch_end, deltas)
        await self.store.apply_items(partition, batch_end, raters)
        acted = sorted(u for u in deltas.ratings)
        stale = set(user_stats) - set(acted)
        await self.store.publish_derived(user_stats, popularity, stale)
        moved_on = await self.refresh(acted)
        produced = {e.user_id: e.produced_at for e in events}
        now = time.time()
        for user in acted:
            if user not in moved_on:
                metrics.FRESHNESS.observe(max(0.0, now - produced[user]))
        return UnitResult(acted, len(stale), len(moved_on))

    async def refresh(self, users: list[str]) -> list[str]:
        """Recompute neighbourhoods and top-N of ``users``; returns those that changed
        meanwhile (they are queued as stale again, never written from old data)."""
        if not users:
            return []
        c = self.config
        views = await self.store.user_views(users)
        decoded = [decode_pairs(pairs) for _ver, _ratings, pairs in views]
        wanted = set(users).union(*(set(p) for p, _s in decoded))
        means = await self.store.means(sorted(wanted))
        neighbourhoods = []
        for user, (partners, sums) in zip(users, decoded, strict=True):
            mean_u = means.get(user, 0.0)
            means_v = np.array([means.get(v, 0.0) for v in partners])
            neighbourhoods.append(
                recommend.neighbourhood(
                    partners, sums, mean_u, means_v, c.neighbourhood_size, c.min_support
                )
            )
        needed = sorted({nb.user_id for hood in neighbourhoods for nb in hood})
        their_ratings = await self.store.ratings_of(needed)
        lists = {}
        for user, (ver, ratings, _p), hood in zip(users, views, neighbourhoods, strict=True):
            top = recommend.top_n(
                means.get(user, 0.0),
                hood,
                [their_ratings[nb.user_id] for nb in hood],
                np.array([means.get(nb.user_id, 0.0) for nb in hood]),
                set(ratings),
                c.predict_k,
                c.topn_size,
                c.rating_bounds,
            )
            lists[user] = (ver, [(nb.user_id, nb.similarity) for nb in hood], top)
        moved_on = await self.store.write_lists(lists)
        if moved_on:
            await self.store.publish_derived({}, {}, set(moved_on))
        return moved_on
