"""The user-based prediction read straight from the stored sums: the read side the reader
serves ``/predict`` and ``/because`` with, so the reader never builds a writer's engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streams.algo.usercf import recommend
from streams.algo.usercf.pearson import pearson
from streams.state.codecs import raw_pairs
from streams.state.usercf import Store


@dataclass(frozen=True)
class Prediction:
    value: float
    neighbours: list[tuple[str, float, float]]  # (user, similarity, their rating)


@dataclass(frozen=True)
class Predictor:
    store: Store
    predict_k: int = 40
    min_support: int = 1
    rating_bounds: tuple[float, float] = (0.5, 5.0)
    shrinkage: float = 0.0

    async def predict(self, user: str, item: str) -> Prediction | None:
        """KNN-with-means prediction from the stored sums; None for an unknown user."""
        view, raters = await self.store.prediction_inputs(user, item)
        if view is None:
            return None
        partners, sums = raw_pairs(view)
        rater_ids = [u.encode() for u in raters.users if u != user]
        means = await self.store.means([user.encode(), *rater_ids])
        mean_u = means[user.encode()]
        row = {p: k for k, p in enumerate(partners)}
        rated = {v: raters.rating(v.decode()) for v in rater_ids if v in row}
        known = [v for v, r in rated.items() if r is not None]
        if not known:
            return Prediction(float(np.clip(mean_u, *self.rating_bounds)), [])
        picked = sums[[row[v] for v in known]]
        means_v = np.array([means.get(v, 0.0) for v in known])
        sims = pearson(picked, mean_u, means_v, self.min_support, self.shrinkage)
        ratings = np.array([rated[v] for v in known], dtype=np.float64)
        k, bounds = self.predict_k, self.rating_bounds
        value = recommend.predict(mean_u, sims, ratings, means_v, k, bounds)
        order = [j for j in np.argsort(-sims, kind="stable")[:k] if sims[j] > 0]
        used = [(known[j].decode(), float(sims[j]), float(ratings[j])) for j in order]
        return Prediction(value, used)
