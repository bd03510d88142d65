"""Cosine rows, similar-item lists and the recent-history top-N: pure and vectorised."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from streams.algo.topk import top_k


def cosine_row(co: np.ndarray, n_item: float, n_partners: np.ndarray) -> np.ndarray:
    """cosine(i, j) = c(i, j) / sqrt(n(i)·n(j)) for every partner j (0 where undefined)."""
    denom = np.sqrt(float(n_item) * np.asarray(n_partners, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.asarray(co, dtype=np.float64) / denom, 0.0)


Id = TypeVar("Id", str, bytes)


def most_similar(partners: Sequence[Id], sims: np.ndarray, size: int) -> list[tuple[Id, float]]:
    """The ``size`` partners with the highest positive similarity; ties by id. The pairs
    are built by ``zip`` over two plain lists, not per element from numpy scalars (a
    third of the cost of a 100-long list)."""
    at = top_k(partners, sims, size)
    take = getattr(partners, "take", None)
    names = take(at) if take is not None else [partners[k] for k in at.tolist()]
    return list(zip(names, np.asarray(sims, dtype=np.float64)[at].tolist(), strict=True))


def recency_weights(recent: list[tuple[str, float]], decay: float) -> np.ndarray:
    """Weight of the t-th most recent item: decay^t times its rating."""
    ratings = np.array([r for _i, r in recent], dtype=np.float64)
    return np.power(decay, np.arange(len(recent))) * ratings


def score_recent(
    recent: list[tuple[str, float]],
    similar: list[list[tuple[str, float]]],
    exclude: set[str],
    decay: float,
    n: int,
) -> list[tuple[str, float, str]]:
    """Top-``n`` items by Σ_t w_t·sim(i_t, j) over the user's recent items i_t (newest
    first, ``similar[t]`` = i_t's similar list); each with the recent item that
    contributed most to its score, for "because you rated X". Ties by id."""
    weights = recency_weights(recent, decay)
    scores: dict[str, float] = {}
    best: dict[str, tuple[float, str]] = {}
    for (source, _r), weight, row in zip(recent, weights, similar, strict=True):
        for item, sim in row:
            if item in exclude:
                continue
            part = float(weight) * sim
            scores[item] = scores.get(item, 0.0) + part
            if part > best.get(item, (0.0, ""))[0]:
                best[item] = (part, source)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [(item, score, best[item][1]) for item, score in ranked if score > 0]
