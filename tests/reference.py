"""From-scratch numpy reference for the CF engine, computed on the final ratings only."""

from __future__ import annotations

import numpy as np


def final_ratings(events) -> dict[tuple[str, str], float]:
    """Apply upserts and deletes in order: the ratings that exist at the end."""
    state: dict[tuple[str, str], float] = {}
    for e in events:
        if e.op == "delete":
            state.pop((e.user_id, e.item_id), None)
        else:
            state[(e.user_id, e.item_id)] = e.rating
    return state


class Reference:
    def __init__(self, ratings: dict[tuple[str, str], float]) -> None:
        self.users = sorted({u for u, _ in ratings})
        self.items = sorted({i for _, i in ratings})
        self.u = {u: k for k, u in enumerate(self.users)}
        self.i = {i: k for k, i in enumerate(self.items)}
        self.R = np.full((len(self.users), len(self.items)), np.nan)
        for (u, i), r in ratings.items():
            self.R[self.u[u], self.i[i]] = r
        self.mask = ~np.isnan(self.R)
        self.Z = np.nan_to_num(self.R)

    def stats(self, user: str) -> tuple[float, float, float]:
        row = self.R[self.u[user]][self.mask[self.u[user]]]
        return float(len(row)), float(row.sum()), float((row**2).sum())

    def mean(self, user: str) -> float:
        row = self.R[self.u[user]][self.mask[self.u[user]]]
        return float(row.mean())

    def pair_sums(self, a: str, b: str) -> np.ndarray:
        both = self.mask[self.u[a]] & self.mask[self.u[b]]
        ra, rb = self.R[self.u[a]][both], self.R[self.u[b]][both]
        return np.array(
            [both.sum(), ra.sum(), rb.sum(), (ra**2).sum(), (rb**2).sum(), (ra * rb).sum()]
        )

    def similarity(self, a: str, b: str, min_support: int = 1, shrinkage: float = 0.0) -> float:
        """Pearson over the co-rated items, 0 below ``min_support`` of them, weighted by
        n/(n+shrinkage)."""
        both = self.mask[self.u[a]] & self.mask[self.u[b]]
        n = int(both.sum())
        if n < min_support or n == 0:
            return 0.0
        da = self.R[self.u[a]][both] - self.mean(a)
        db = self.R[self.u[b]][both] - self.mean(b)
        den = np.sqrt((da**2).sum()) * np.sqrt((db**2).sum())
        raw = 0.0 if den < 1e-9 else float((da * db).sum() / den)
        return raw * n / (n + shrinkage)

    def baseline(
        self, user: str, item: str, item_damping: float, user_damping: float, asking: bool = True
    ) -> float:
        """μ + b_u + b_i, b_i = Σ(r − μ)/(λ_i + n) over the item's ratings; the user asking
        gets b_u = Σ(r − μ − b_j)/(λ_u + n) over their items j, a rater (``asking`` False)
        b_v = Σ(r − μ)/(λ_u + n)."""
        mu = float(self.R[self.mask].mean())

        def item_bias(j: int) -> float:
            theirs = self.R[:, j][self.mask[:, j]]
            return float((theirs - mu).sum() / (item_damping + len(theirs))) if len(theirs) else 0.0

        row = self.u[user]
        mine = np.flatnonzero(self.mask[row])
        offsets = self.R[row, mine] - mu
        if asking:
            offsets = offsets - np.array([item_bias(j) for j in mine])
        b_u = float(offsets.sum() / (user_damping + len(mine)))
        return mu + b_u + (item_bias(self.i[item]) if item in self.i else 0.0)

    def co_raters(self, user: str) -> list[str]:
        k = self.u[user]
        shared = (self.mask[k][None, :] & self.mask).any(axis=1)
        shared[k] = False
        return [self.users[j] for j in np.flatnonzero(shared)]

    def predict(
        self,
        user: str,
        item: str,
        k: int,
        bounds: tuple[float, float],
        min_support: int = 1,
        shrinkage: float = 0.0,
        damping: tuple[float, float] | None = None,
    ) -> float:
        """KNN around the users' means, or with ``damping`` (item λ, user λ) around the
        baseline μ + b_u + b_i, straight from the definition."""
        if damping is None:
            mean_u, base = self.mean(user), self.mean
        else:
            mean_u = self.baseline(user, item, *damping)
            base = lambda v: self.baseline(v, item, *damping, asking=False)  # noqa: E731
        rated = self.mask[:, self.i[item]] if item in self.i else np.zeros(len(self.users), bool)
        raters = [self.users[j] for j in np.flatnonzero(rated)]
        scored = [
            (self.similarity(user, v, min_support, shrinkage), v) for v in raters if v != user
        ]
        ranked = sorted([(s, v) for s, v in scored if s > 0], key=lambda x: -x[0])
        top = ranked[:k]
        if len(ranked) > k:  # raters tied with the k-th count too (recommend.predict)
            top = [(s, v) for s, v in ranked if s >= top[-1][0] * (1 - 1e-9)]
        if not top:
            return float(np.clip(mean_u, *bounds))
        num = sum(s * (self.R[self.u[v], self.i[item]] - base(v)) for s, v in top)
        den = sum(abs(s) for s, _ in top)
        return float(np.clip(mean_u + num / den, *bounds))
