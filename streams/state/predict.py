"""The user-based prediction read straight from the stored sums: the read side the reader
serves ``/predict`` and ``/because`` with, so the reader never builds a writer's engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streams.algo.usercf import recommend
from streams.algo.usercf.baseline import Baseline
from streams.algo.usercf.pearson import pearson
from streams.state.codecs import raw_pairs
from streams.state.usercf import Store


@dataclass(frozen=True)
class Prediction:
    value: float
    neighbours: list[tuple[str, float, float]]  # (user, similarity, their rating)
    base: float  # what the neighbours' deviations move: μ + b_u + b_i (or the user's mean)


@dataclass(frozen=True)
class Predictor:
    store: Store
    predict_k: int = 40
    min_support: int = 1
    rating_bounds: tuple[float, float] = (0.5, 5.0)
    shrinkage: float = 0.0
    damping: tuple[float, float] | None = None  # (item, user) λ of the baseline; None: means

    async def predict(self, user: str, item: str) -> Prediction | None:
        """KNN from the stored sums, around the baseline μ + b_u + b_i (or, without
        ``damping``, the users' means); None for an unknown user."""
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
        means_v = np.array([means.get(v, 0.0) for v in known])
        base_u, base_v = await self._bases(user, item, known, mean_u, means_v)
        if not known:
            return Prediction(float(np.clip(base_u, *self.rating_bounds)), [], base_u)
        picked = sums[[row[v] for v in known]]
        sims = pearson(picked, mean_u, means_v, self.min_support, self.shrinkage)
        ratings = np.array([rated[v] for v in known], dtype=np.float64)
        k, bounds = self.predict_k, self.rating_bounds
        value = recommend.predict(base_u, sims, ratings, base_v, k, bounds)
        used = [
            (known[j].decode(), float(sims[j]), float(ratings[j]))
            for j in recommend.used_raters(sims, k).tolist()
        ]
        return Prediction(value, used, base_u)

    async def _bases(
        self, user: str, item: str, raters: list[bytes], mean_u: float, means_v: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """What the prediction deviates from: the user's and each rater's baseline."""
        if self.damping is None:
            return mean_u, means_v
        got = await self.store.baseline_inputs(user, item, raters)
        base = Baseline.of_item(got.totals, got.item, *self.damping)
        if base is None:  # no totals: a state an older release wrote, not rebuilt yet
            # (the worker refuses such a state; the reader does not check its revision)
            return mean_u, means_v
        count, total = got.users[0]
        mine = base.user(float(count), float(total), got.rated[:, 0], got.rated[:, 1])
        return mine, base.raters(got.users[1:, 0], got.users[1:, 1])
