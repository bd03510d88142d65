"""A user's content profile and what follows from it: a ranking over the whole catalogue
(unrated items included: this is how a new item is recommendable before anyone rates it)
and a rating prediction (content kNN over the user's rated items)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streams.algo.content.vectors import Catalogue, top


def profile(catalogue: Catalogue, ratings: Mapping[str, float], mean: float) -> np.ndarray:
    """Σ_i (r_ui − mean_u) · x_i over the user's rated items in the catalogue: liked
    items pull the profile towards them, disliked ones push it away."""
    rows = [(catalogue.index[i], r - mean) for i, r in ratings.items() if i in catalogue.index]
    if not rows:
        return np.zeros(catalogue.vectors.shape[1])
    index = np.array([k for k, _w in rows], dtype=np.int64)
    weights = np.array([w for _k, w in rows])
    return catalogue.combined(index, weights)


def rank(
    catalogue: Catalogue, ratings: Mapping[str, float], mean: float, n: int
) -> list[tuple[str, float]]:
    """Top-``n`` unrated items by cosine(profile, x_j). A user whose ratings all equal
    their mean has no direction yet: their profile is the plain sum of what they rated."""
    p = profile(catalogue, ratings, mean)
    if not np.any(p) and ratings:
        p = profile(catalogue, ratings, mean - 1.0)
    norm = float(np.linalg.norm(p))
    if norm == 0.0:
        return []
    scores = catalogue.scores(p / norm)
    for item in ratings:
        k = catalogue.index.get(item)
        if k is not None:
            scores[k] = 0.0
    return top(catalogue.ids, scores, n)


def predict(sims: np.ndarray, ratings: np.ndarray, mean: float, k: int) -> float | None:
    """mean_u + Σ s_ij (r_ui − mean_u) / Σ s_ij over the ``k`` rated items i most similar
    to the target j (``sims[t]`` = cosine of the t-th rated item with j; only s > 0);
    None without a similar rated item."""
    keep = np.flatnonzero(sims > 1e-12)
    if not len(keep):
        return None
    if len(keep) > k:
        keep = keep[np.argsort(-sims[keep], kind="stable")[:k]]
    s = sims[keep]
    return float(mean + s @ (ratings[keep] - mean) / s.sum())
