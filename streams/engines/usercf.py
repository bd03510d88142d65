"""One micro-batch of the CF engine: expand pairs, apply per user and per item, refresh lists.

No Kafka here: the Faust agent hands in the events of one partition, in offset order, and
the offset that ends them. Kept apart from the wiring so that tests and the evaluation can
drive the same code without a broker.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from streams import metrics
from streams.algo.ids import LocalIds
from streams.algo.usercf import UserCFConfig, recommend
from streams.algo.usercf.expansion import BatchDeltas, ItemRaters, expand_item_events
from streams.state.codecs import raw_pairs
from streams.state.predict import Prediction, Predictor
from streams.state.usercf import Store

# Exponents of the popularity weight are held inside [-1000, 900]: 2**900 leaves room to
# add 2**100 such weights in a sorted-set score without reaching infinity (which Redis
# refuses), and nothing below 2**-1000 changes a sum.
POPULARITY_EXPONENT = (-1000.0, 900.0)


def popularity_weight(ts: float, epoch: float, half_life_s: float) -> float:
    """2^((ts − epoch)/half-life): forward decay, so old scores never need rewriting.
    Saturates (never overflows) for any ``ts``; settings refuse a half-life that would
    saturate present-day events (``WorkerSettings``)."""
    low, high = POPULARITY_EXPONENT
    return math.pow(2.0, min(high, max(low, (ts - epoch) / half_life_s)))


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
class Portion:
    """The events of one by-item partition in a batch, in offset order, and the offset
    that ends them: the unit each user's and item's fence counts in."""

    partition: int
    end: int
    events: list[ByItemEvent]


@dataclass
class BatchResult:
    """Users who rated (their lists are due now) with their latest produce time."""

    acted: dict[str, float] = field(default_factory=dict)


class NeighbourRatings:
    """The ratings of the users who serve as neighbours, kept between refreshes and read
    again only when their ``ver`` moved. With the significance weighting the neighbours
    are mostly heavy raters (hundreds of ratings each), the same ones for most users, so
    every refresh round read and decoded the same large hashes again: a third of the list
    process's time while it drained the stale users after a replay.

    The codes of the items live in one catalogue for the life of the cache (``top_n``
    takes it), so a cached row stays valid; both are dropped past their bounds."""

    def __init__(self, store: Store, max_users: int = 100_000, max_items: int = 2_000_000):
        self.store, self.max_users, self.max_items = store, max_users, max_items
        self.catalogue: LocalIds[str] = LocalIds()
        self.rows: dict[str, tuple[int, recommend.RatedItems]] = {}

    async def of(self, users: list[str]) -> dict[str, recommend.RatedItems]:
        if len(self.rows) > self.max_users or len(self.catalogue) > self.max_items:
            self.catalogue, self.rows = LocalIds(), {}
        cached = [u for u in users if u in self.rows]  # the others are read whole anyway
        versions = await self.store.versions(cached) if cached else []
        kept = {u for u, v in zip(cached, versions, strict=True) if self.rows[u][0] == v}
        moved = [u for u in users if u not in kept]
        if moved:
            read = await self.store.versioned_ratings(moved)
            for user, (ver, ratings) in zip(moved, read, strict=True):
                self.rows[user] = (ver, recommend.RatedItems.of(ratings, self.catalogue))
        return {u: self.rows[u][1] for u in users}

    def advance(
        self, versions: Mapping[str, int], changes: Mapping[str, Mapping[str, float | None]]
    ) -> None:
        """A batch this worker applied: the ``ver`` its own script call moved each user
        to (never a user whose portions were all applied before: a redo after another
        worker's crash, whose ``ver`` may carry portions this batch does not), and the
        ratings it set. A kept row one version behind moves forward with them (``ver``
        also moves for a batch that only changed a user's pair sums, which made heavy
        raters be read whole after nearly every batch); any other ``ver`` means another
        writer came between, and ``of`` reads that user again."""
        for user, ver in versions.items():
            row = self.rows.get(user)
            if row is not None and ver == row[0] + 1:
                mine = changes.get(user)
                rated = row[1].moved(mine, self.catalogue) if mine else row[1]
                self.rows[user] = (ver, rated)


class Engine:
    def __init__(self, store: Store, config: UserCFConfig) -> None:
        self.store = store
        self.config = config
        self.neighbours = NeighbourRatings(store)

    def _popularity_weight(self, ts: float) -> float:
        c = self.config
        return popularity_weight(ts, c.popularity_epoch_s, c.popularity_half_life_s)

    async def apply_batch(self, portions: list[Portion]) -> BatchResult:
        """Apply a batch at most once per (user or item, partition); see docs/algorithm.md."""
        c = self.config
        acting_by_item: dict[str, set[str]] = {}
        for portion in portions:
            for e in portion.events:
                acting_by_item.setdefault(e.item_id, set()).add(e.user_id)
        raters = await self.store.load_raters(
            {i: sorted(us) for i, us in acting_by_item.items()}, c.fan_out_cap
        )
        counted: list[dict[str, int]] = [{} for _p in portions]
        if c.history_cap_per_partition:
            counted = await self.store.counted_before(
                [(p.partition, p.end, sorted({e.user_id for e in p.events})) for p in portions]
            )
        # (partition, item) → Δ count, Δ sum of its ratings, Δ time-decayed count (popular)
        moves: dict[tuple[int, str], tuple[int, float, float]] = {}
        expanded = []
        for portion, base in zip(portions, counted, strict=True):
            deltas = BatchDeltas(counted_before=base)
            for e in portion.events:
                state = raters[e.item_id]
                before = state.rating(e.user_id)
                expand_item_events(
                    e.item_id,
                    state,
                    [(e.user_id, e.rating, e.source_offset)],
                    deltas,
                    c.fan_out_cap,
                    c.history_cap_per_partition,
                )
                after = state.rating(e.user_id)
                if after != before:
                    sign = (after is not None) - (before is not None)
                    weight = sign * self._popularity_weight(e.ts) if sign else 0.0
                    key = (portion.partition, e.item_id)  # applied under that fence
                    dn, ds, dp = moves.get(key, (0, 0.0, 0.0))
                    ds += (after or 0.0) - (before or 0.0)
                    moves[key] = (dn + sign, ds, dp + weight)
            expanded.append((portion.partition, portion.end, deltas))
        acting = sorted(set().union(*(d.ratings for _p, _e, d in expanded)))
        # every user of the batch: a redo expands no change for users whose items were
        # applied already, yet their means may not have been published yet
        everyone = sorted({e.user_id for p in portions for e in p.events})
        stored = await self.store.stats(everyone)
        means = {}
        for user in acting:
            count, total = stored[user].count, stored[user].total
            for _p, _e, deltas in expanded:
                d = deltas.stats.get(user)
                if d is not None:
                    count, total = count + d[0], total + d[1]
            if count > 0:
                means[user] = total / count
        c = self.config
        outcomes = await self.store.apply_users(
            expanded, means, c.neighbourhood_size, (c.min_support, c.shrinkage)
        )
        set_ratings: dict[str, dict[str, float | None]] = {}
        for _p, _e, deltas in expanded:
            for user, rated in deltas.ratings.items():
                set_ratings.setdefault(user, {}).update(rated)
        bumped = {u: o.ver for u, o in outcomes.items() if o.applied > 0}  # by this call
        self.neighbours.advance(bumped, set_ratings)
        by_partition: dict[int, dict[str, ItemRaters]] = {}
        for portion in portions:
            owned = by_partition.setdefault(portion.partition, {})
            for e in portion.events:
                owned[e.item_id] = raters[e.item_id]
        copies = await self.store.apply_items(
            [(p.partition, p.end, by_partition[p.partition]) for p in portions], moves
        )
        stale = {u for u, o in outcomes.items() if o.stale}
        unchanged = {u: stored[u] for u in everyone if u not in outcomes}
        fresh = sum(len(p.events) for p in portions)
        await self.store.publish_derived(outcomes, copies, stale, fresh, unchanged)
        acted = {
            e.user_id: e.produced_at
            for portion in portions
            for e in portion.events
            if e.user_id in acting
        }
        return BatchResult(acted)

    async def finish(self, result: BatchResult) -> int:
        """Recompute the lists of everyone who rated in the batch; record freshness."""
        moved_on = set(await self.refresh(sorted(result.acted), result.acted))
        now = time.time()
        for user, produced_at in result.acted.items():
            if user not in moved_on:
                metrics.FRESHNESS.observe(max(0.0, now - produced_at))
        return len(result.acted)

    async def refresh(
        self, users: list[str], since: Mapping[str, float] | None = None
    ) -> list[str]:
        """Recompute neighbourhoods and top-N of ``users``; returns those that changed
        meanwhile (they are queued as stale again, never written from old data)."""
        if not users:
            return []
        c = self.config
        views = await self.store.user_views(users)
        decoded = [raw_pairs(pairs) for _ver, _ratings, pairs in views]
        own = [u.encode() for u in users]
        wanted = set(own).union(*(set(p) for p, _s in decoded))
        means = await self.store.means(list(wanted))
        neighbourhoods = []
        for key, (partners, sums) in zip(own, decoded, strict=True):
            mean_u = means.get(key, 0.0)
            means_v = np.array([means.get(v, 0.0) for v in partners])
            hood = recommend.neighbourhood(
                partners, sums, mean_u, means_v, c.neighbourhood_size, c.min_support, c.shrinkage
            )
            neighbourhoods.append(
                [recommend.Neighbour(nb.user_id.decode(), nb.similarity, nb.support) for nb in hood]
            )
        named = {k.decode(): v for k, v in means.items()}
        needed = sorted({nb.user_id for hood in neighbourhoods for nb in hood})
        their_ratings = await self.neighbours.of(needed)  # each coded once, kept
        catalogue = self.neighbours.catalogue
        lists = {}
        for user, (ver, ratings, _p), hood in zip(users, views, neighbourhoods, strict=True):
            top = recommend.top_n(
                named.get(user, 0.0),
                hood,
                [their_ratings[nb.user_id] for nb in hood],
                np.array([named.get(nb.user_id, 0.0) for nb in hood]),
                set(ratings),
                c.predict_k,
                c.topn_size,
                c.rating_bounds,
                catalogue,
            )
            nbrs = recommend.stored_scores([(nb.user_id, nb.similarity) for nb in hood])
            lists[user] = (ver, nbrs, recommend.stored_scores(top))
        moved_on = await self.store.write_lists(lists, since)
        if moved_on:
            await self.store.publish_derived({}, {}, set(moved_on))
        return moved_on

    async def predict(self, user: str, item: str) -> Prediction | None:
        """The user-based prediction from the stored sums (the reader's read side)."""
        c = self.config
        predictor = Predictor(
            self.store, c.predict_k, c.min_support, c.rating_bounds, c.shrinkage, c.damping
        )
        return await predictor.predict(user, item)
