"""streamrec's recommenders held in memory, built from the same pure functions the worker
runs (``streams.algo.usercf``, ``streams.algo.itemcf``, ``streams.algo.blend``), so the
evaluation replays a stream in minutes without a broker.
``tests/integration/test_eval_parity.py`` checks that they give the same numbers as the
real stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from streams.algo.itemcf import ItemCFConfig
from streams.algo.itemcf.cooccurrence import CooccurrenceDeltas, UserHistory, expand_user_events
from streams.algo.itemcf.similarity import cosine_row, most_similar, score_recent
from streams.algo.usercf import UserCFConfig, recommend
from streams.algo.usercf.baseline import Baseline
from streams.algo.usercf.coalesce import coalesce
from streams.algo.usercf.expansion import BatchDeltas, ItemRaters, expand_item_events
from streams.algo.usercf.pearson import WIDTH, N, pearson


class Recommender(Protocol):
    name: str
    ranks: bool  # False: rating predictions only, no top-N

    def predict(self, user: str, item: str) -> float | None: ...
    def recommend(self, user: str, n: int) -> list[str]: ...
    def learn(self, user: str, item: str, rating: float | None, offset: int, ts: float) -> None: ...


@dataclass
class Ratings:
    """Who rated what (shared by the models: exclusions and popularity)."""

    by_user: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def learn(self, user: str, item: str, rating: float | None) -> None:
        mine = self.by_user.setdefault(user, {})
        had = item in mine
        if rating is None:
            mine.pop(item, None)
        else:
            mine[item] = rating
        delta = (rating is not None) - had
        if delta:
            self.counts[item] = self.counts.get(item, 0) + delta


class MostPopular:
    """Most rated items the user has not rated (all-time counts)."""

    name = "popular"
    ranks = True

    def __init__(self, ratings: Ratings) -> None:
        self.ratings = ratings

    def predict(self, user: str, item: str) -> float | None:
        return None

    def ranked(self, user: str, n: int) -> list[tuple[str, float]]:
        seen = self.ratings.by_user.get(user, {})
        counts = self.ratings.counts
        best = sorted(counts, key=lambda i: (-counts[i], i))[: n + len(seen)]
        return [(i, float(counts[i])) for i in best if i not in seen][:n]

    def recommend(self, user: str, n: int) -> list[str]:
        return [i for i, _s in self.ranked(user, n)]

    def learn(self, user: str, item: str, rating: float | None, offset: int, ts: float) -> None:
        pass  # the shared Ratings already learned it


class UserKNN:
    """User-based Pearson KNN with means: the engine's sums, neighbourhoods and top-N."""

    name = "user-cf"
    ranks = True

    def __init__(self, config: UserCFConfig, ratings: Ratings) -> None:
        self.config = config
        self.ratings = ratings
        self.index: dict[str, int] = {}
        self.names: list[str] = []
        self.sums = np.zeros((64, 64, WIDTH))
        self.stats = np.zeros((64, 2))
        self.totals = np.zeros(2)  # Σ of the rows of stats: every rating's (n, Σ r)
        self.raters: dict[str, ItemRaters] = {}
        self.item_stats: dict[str, list[float]] = {}  # item → (n, Σ r) of its ratings
        self._rated_items: dict[str, recommend.RatedItems] = {}
        self._memo: tuple[int, str, int, list[tuple[str, float]]] | None = None
        self.version = 0

    def _id(self, user: str) -> int:
        k = self.index.get(user)
        if k is None:
            k = self.index[user] = len(self.names)
            self.names.append(user)
            if k >= len(self.stats):
                grow = 2 * len(self.stats)
                sums = np.zeros((grow, grow, WIDTH))
                sums[:k, :k] = self.sums
                self.sums = sums
                self.stats = np.vstack([self.stats, np.zeros((grow - k, 2))])
        return k

    def mean(self, k: int) -> float | None:
        count, total = self.stats[k]
        return float(total / count) if count > 0 else None

    def _means(self) -> np.ndarray:
        count, total = self.stats[: len(self.names), 0], self.stats[: len(self.names), 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), 0.0)

    def learn(self, user: str, item: str, rating: float | None, offset: int, ts: float) -> None:
        deltas = BatchDeltas()
        state = self.raters.setdefault(item, ItemRaters.empty())
        before = state.rating(user)
        expand_item_events(item, state, [(user, rating, offset)], deltas, self.config.fan_out_cap)
        after = state.rating(user)
        if after != before:  # the item's (n, Σ r), as apply_raters.lua keeps them
            row = self.item_stats.setdefault(item, [0.0, 0.0])
            row[0] += (after is not None) - (before is not None)
            row[1] += (after or 0.0) - (before or 0.0)
        for name in deltas.names:
            self._id(name)
        for who, (partners, rows) in coalesce([deltas]).items():
            idx = np.array([self.index[p] for p in partners])
            np.add.at(self.sums[self.index[who]], idx, rows)
        for who, stats in deltas.stats.items():
            self.stats[self.index[who]] += stats[:2]
            self.totals += stats[:2]
        self._rated_items.pop(user, None)
        self.version += 1

    def _row(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        partners = np.flatnonzero(self.sums[k, : len(self.names), N] > 0)
        return partners, self.sums[k, partners]

    def predict(self, user: str, item: str) -> float | None:
        k = self.index.get(user)
        mean_u = None if k is None else self.mean(k)
        if k is None or mean_u is None:
            return None
        c = self.config
        state = self.raters.get(item)
        known = [] if state is None else [v for v in state.users if v != user]
        known = [v for v in known if state is not None and state.rating(v) is not None]
        idx = np.array([self.index[v] for v in known], dtype=np.int64)
        idx = idx[self.sums[k, idx, N] > 0] if len(idx) else idx
        means = self._means()[idx]
        base_u, base_v = mean_u, means
        if c.damping is not None:
            bases = self._baselines(user, item, np.concatenate([[k], idx]), c.damping)
            base_u, base_v = float(bases[0]), bases[1:]
        if not len(idx):
            return float(np.clip(base_u, *c.rating_bounds))
        sims = pearson(self.sums[k, idx], mean_u, means, c.min_support, c.shrinkage)
        assert state is not None
        values = np.array([state.rating(self.names[j]) for j in idx], dtype=np.float64)
        return recommend.predict(base_u, sims, values, base_v, c.predict_k, c.rating_bounds)

    def _baselines(
        self, user: str, item: str, users: np.ndarray, damping: tuple[float, float]
    ) -> np.ndarray:
        """The baselines of ``users`` (indices: the user asking first, then the raters)
        from the exact counts, as the reader computes them from the worker's."""
        stats = self.stats[: len(self.names)]
        totals = (float(self.totals[0]), float(self.totals[1]))
        of_item = self.item_stats.get(item, [0.0, 0.0])
        base = Baseline.of_item(totals, (of_item[0], of_item[1]), *damping)
        assert base is not None  # the user asking has a rating
        rated = np.array(
            [self.item_stats[i] for i in self.ratings.by_user.get(user, {})], dtype=np.float64
        ).reshape(-1, 2)
        count, total = stats[users[0]]
        mine = base.user(float(count), float(total), rated[:, 0], rated[:, 1])
        return np.concatenate([[mine], base.raters(stats[users[1:], 0], stats[users[1:], 1])])

    def ranked(self, user: str, n: int) -> list[tuple[str, float]]:
        """The user's top-``n`` (memoised until the next event: the blend asks again)."""
        memo = self._memo
        if memo is not None and memo[:3] == (self.version, user, n):
            return memo[3]
        result = self._ranked(user, n)
        self._memo = (self.version, user, n, result)
        return result

    def _ranked(self, user: str, n: int) -> list[tuple[str, float]]:
        k = self.index.get(user)
        mean_u = None if k is None else self.mean(k)
        if k is None or mean_u is None:
            return []
        c = self.config
        partners, sums = self._row(k)
        means = self._means()
        names = [self.names[j] for j in partners]
        hood = recommend.neighbourhood(
            names, sums, mean_u, means[partners], c.neighbourhood_size, c.min_support, c.shrinkage
        )
        rated = []
        for nb in hood:
            items = self._rated_items.get(nb.user_id)
            if items is None:
                items = recommend.RatedItems.of(self.ratings.by_user.get(nb.user_id, {}))
                self._rated_items[nb.user_id] = items
            rated.append(items)
        nb_means = np.array([means[self.index[nb.user_id]] for nb in hood])
        exclude = set(self.ratings.by_user.get(user, {}))
        return recommend.top_n(
            mean_u, hood, rated, nb_means, exclude, c.predict_k, n, c.rating_bounds
        )

    def recommend(self, user: str, n: int) -> list[str]:
        return [i for i, _s in self.ranked(user, n)]


class ItemCF:
    """Item-to-item co-occurrence (cosine), scored from the user's most recent items."""

    name = "item-cf"
    ranks = True

    def __init__(self, config: ItemCFConfig) -> None:
        self.config = config
        self.histories: dict[str, UserHistory] = {}
        self.rows: dict[str, dict[str, int]] = {}
        self.counts: dict[str, int] = {}
        self.similar: dict[str, list[tuple[str, float]]] = {}
        self.sums: dict[str, dict[str, np.ndarray]] = {}  # pearson only
        self.rating_sums: dict[str, float] = {}

    def predict(self, user: str, item: str) -> float | None:
        return None

    def learn(self, user: str, item: str, rating: float | None, offset: int, ts: float) -> None:
        c = self.config
        history = self.histories.setdefault(user, UserHistory.empty())
        out = CooccurrenceDeltas()
        pearson_sums = c.similarity == "pearson"
        expand_user_events(
            history,
            [(item, rating, offset)],
            out,
            self.counts,
            c.kmax,
            c.fmax,
            None,
            pearson_sums,
            c.window,
        )
        for i, sum_rows in out.sums.items():
            theirs = self.sums.setdefault(i, {})
            for j, sum_delta in sum_rows.items():
                total = theirs.get(j, np.zeros(WIDTH)) + sum_delta
                if total[N] < 0.5:
                    theirs.pop(j, None)
                else:
                    theirs[j] = total
        for i, rating_delta in out.rating_sums.items():
            self.rating_sums[i] = self.rating_sums.get(i, 0.0) + rating_delta
        for i, row in out.pairs.items():
            mine = self.rows.setdefault(i, {})
            for j, d in row.items():
                value = mine.get(j, 0) + d
                if value:
                    mine[j] = value
                else:
                    mine.pop(j, None)
        self.rescore(item)

    def mean(self, item: str) -> float:
        n = self.counts.get(item, 0)
        return self.rating_sums.get(item, 0.0) / n if n else 0.0

    def rescore(self, item: str) -> None:
        if self.config.similarity == "pearson":
            rows = self.sums.get(item, {})
            partners = list(rows)
            sums = np.array(list(rows.values())).reshape(-1, WIDTH)
            means = np.array([self.mean(j) for j in partners], dtype=np.float64)
            sims = pearson(sums, self.mean(item), means, self.config.min_support)
            top = most_similar(partners, sims, self.config.similar_size)
            self.similar[item] = recommend.stored_scores(top)
            return
        row = self.rows.get(item, {})
        partners = list(row)
        sims = cosine_row(
            np.fromiter(row.values(), float, len(row)),
            self.counts.get(item, 0),
            np.array([self.counts.get(j, 0) for j in partners], dtype=np.float64),
        )
        top = most_similar(partners, sims, self.config.similar_size)
        self.similar[item] = recommend.stored_scores(top)  # as the worker stores them

    def ranked(self, user: str, n: int) -> list[tuple[str, float, str]]:
        history = self.histories.get(user)
        if history is None:
            return []
        recent = history.recent(self.config.recent)
        lists = [self.similar.get(i, []) for i, _r in recent]
        return score_recent(recent, lists, history.rated(), self.config.decay, n)

    def recommend(self, user: str, n: int) -> list[str]:
        return [i for i, _s, _b in self.ranked(user, n)]
