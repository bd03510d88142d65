"""The content-based and embedding sources held in memory, from the worker's own pure
functions (``streams.algo.content``, ``streams.algo.embedding``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from streams.algo import blend
from streams.algo.content import ContentConfig
from streams.algo.content import profile as content_profile
from streams.algo.content.vectors import Catalogue
from streams.algo.embedding import EmbeddingConfig
from streams.algo.embedding import model as embedding
from streams.algo.embedding.plan import learn_event
from streams.evaluation.diversity import ListQuality, intra_list_diversity, most_per_reason
from streams.evaluation.models import Ratings


def _mean(ratings: dict[str, float]) -> float | None:
    return sum(ratings.values()) / len(ratings) if ratings else None


class ContentModel:
    """Content kNN predictions and profile-based top-N over the whole catalogue."""

    name = "content"
    ranks = True

    def __init__(self, catalogue: Catalogue, ratings: Ratings, config: ContentConfig) -> None:
        self.catalogue, self.ratings, self.config = catalogue, ratings, config
        self.sims = catalogue.vectors @ catalogue.vectors.T  # small catalogues only

    def predict(self, user: str, item: str) -> float | None:
        mine = self.ratings.by_user.get(user, {})
        mean = _mean(mine)
        j = self.catalogue.index.get(item)
        if mean is None or j is None:
            return None
        index = self.catalogue.index
        rated = [(index[i], r) for i, r in mine.items() if i in index]
        rows = np.array([k for k, _r in rated], dtype=np.int64)
        values = np.array([r for _k, r in rated])
        return content_profile.predict(self.sims[rows, j], values, mean, self.config.profile_k)

    def ranked(self, user: str, n: int) -> list[tuple[str, float]]:
        mine = self.ratings.by_user.get(user, {})
        mean = _mean(mine)
        if mean is None:
            return []
        return content_profile.rank(self.catalogue, mine, mean, n)

    def recommend(self, user: str, n: int) -> list[str]:
        return [i for i, _s in self.ranked(user, n)]

    def learn(self, user: str, item: str, rating: float | None, offset: int, ts: float) -> None:
        pass  # the profile is a function of the shared Ratings


class EmbeddingModel:
    """Biased MF (``neural=False``) or its attribute-network variant, one step per event."""

    ranks = True

    def __init__(
        self,
        config: EmbeddingConfig,
        catalogue: Catalogue | None,
        neural: bool,
        attributes: dict[str, dict[str, object]] | None = None,
    ) -> None:
        self.name = "neural" if neural else "mf"
        self.config, self.neural = config, neural
        self.network = embedding.Network.initial(config) if neural else None
        self.users: dict[str, np.ndarray] = {}
        self.seen: dict[str, dict[str, float]] = {}
        self.totals = np.zeros(2)  # count and sum of the current ratings
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.rows = np.zeros((0, config.factors + 1))
        self.x = np.zeros((0, embedding.FEATURES))
        self.attributes = attributes or {}
        for item in catalogue.ids if catalogue is not None else []:
            self._item(item)

    def _item(self, item: str) -> int:
        k = self.index.get(item)
        if k is None:
            k = self.index[item] = len(self.ids)
            self.ids.append(item)
            row = embedding.initial_row("i", item, self.config, self.neural)
            self.rows = np.vstack([self.rows, row])
            x = embedding.features(self.attributes.get(item))
            self.x = np.vstack([self.x, x])
        return k

    def _user(self, user: str) -> np.ndarray:
        row = self.users.get(user)
        if row is None:
            row = self.users[user] = embedding.initial_row("u", user, self.config, False)
        return row

    def mean(self) -> float | None:
        return float(self.totals[1] / self.totals[0]) if self.totals[0] > 0 else None

    def predict(self, user: str, item: str) -> float | None:
        mu = self.mean()
        if mu is None:
            return None
        k = self._item(item)
        q = embedding.item_vector(self.rows[k], self.network, self.x[k])
        return embedding.predict(mu, self._user(user), self.rows[k], q, self.config.rating_bounds)

    def learn(self, user: str, item: str, rating: float | None, offset: int, ts: float) -> None:
        k = self._item(item)
        learn_event(
            self.totals,
            self._user(user),
            self.seen.setdefault(user, {}),
            item,
            self.rows[k],
            self.x[k],
            rating,
            self.config,
            self.network,
        )

    def item_vectors(self) -> np.ndarray:
        if self.network is None:
            return self.rows[:, 1:]
        return self.rows[:, 1:] + self.network.embed(self.x)

    def ranked(self, user: str, n: int) -> list[tuple[str, float]]:
        if user not in self.users:
            return []
        exclude = np.array([self.index[i] for i in self.seen.get(user, {})], dtype=np.int64)
        return embedding.rank(
            self.users[user], self.ids, self.rows[:, 0], self.item_vectors(), exclude, n
        )

    def recommend(self, user: str, n: int) -> list[str]:
        return [i for i, _s in self.ranked(user, n)]


class Blend:
    """The served list (sources fused by weighted reciprocal rank, cold-start users routed
    to content and popularity) and the stacked rating estimate. Records every source's
    prediction on the first ``tuning_events`` events so the stack's weights can be fitted
    there (:meth:`fitted_weights`) and never on the reported part."""

    name = "blend"
    ranks = True

    def __init__(
        self,
        sources: dict[str, Any],
        predictors: dict[str, Any],
        ratings: Ratings,
        weights: dict[str, float],
        rating_weights: dict[str, float],
        bounds: tuple[float, float],
        tuning_events: int = 0,
        cold_start: int = blend.COLD_START_RATINGS,
        per_reason: int = blend.PER_REASON,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.sources, self.predictors, self.ratings = sources, predictors, ratings
        self.cold_start, self.per_reason, self.catalogue = cold_start, per_reason, catalogue
        self.quality = ListQuality(tuning_events)
        self.position = 0  # events learned so far
        self.weights, self.rating_weights, self.bounds = weights, rating_weights, bounds
        self.tuning_events = tuning_events
        self.rows: list[list[float]] = []
        self.targets: list[float] = []
        self._last: dict[str, float | None] = {}

    def predict(self, user: str, item: str) -> float | None:
        self._last = {name: m.predict(user, item) for name, m in self.predictors.items()}
        return blend.stack(self._last, self.rating_weights, self.bounds)

    def recommend(self, user: str, n: int) -> list[str]:
        size = max(n, blend.DEPTH)
        weights = blend.route(
            self.weights, len(self.ratings.by_user.get(user, {})), self.cold_start
        )
        ranked = {
            name: source.ranked(user, size)
            for name, source in self.sources.items()
            if weights.get(name, 0.0) > 0
        }
        lists = {name: [(t[0], t[1]) for t in found] for name, found in ranked.items()}
        reasons = {t[0]: t[2] for t in ranked.get("item-cf", [])}
        fused = blend.diversify(
            blend.fuse(lists, weights, n + blend.DEPTH), reasons, self.per_reason, n
        )
        items = [i for i, _s, _src in fused]
        spread = None if self.catalogue is None else intra_list_diversity(items, self.catalogue)
        self.quality.add(self.position, most_per_reason(fused, reasons), spread)
        return items

    def learn(self, user: str, item: str, rating: float | None, offset: int, ts: float) -> None:
        self.position = offset + 1
        last, self._last = self._last, {}
        fallback = last.get("embedding")
        if offset < self.tuning_events and rating is not None and fallback is not None:
            values = [last[n] for n in self.predictors]
            row = [1.0] + [fallback if v is None else v for v in values]
            self.rows.append(row)
            self.targets.append(rating)

    def fitted_weights(self) -> dict[str, float] | None:
        """Least-squares stack weights over the tuning part (None before any)."""
        if not self.rows:
            return None
        solution, *_ = np.linalg.lstsq(np.array(self.rows), np.array(self.targets), rcond=None)
        names = ["intercept", *self.predictors]
        return {name: round(float(w), 4) for name, w in zip(names, solution, strict=True)}
