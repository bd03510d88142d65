"""Neighbourhoods, predictions and top-N from pair sums and ratings: pure and vectorised.

Prediction is KNN with means: among the users who rated item i, the k most similar with
positive similarity (and any tied with the k-th),

    pred(u, i) = m_u + Σ sim(u,v)·(r_vi − m_v) / Σ |sim(u,v)|,  clipped to the rating range.

Fallbacks: an unknown user has no mean (None: callers serve popularity); a known user with
no positively similar rater of i gets their own mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.algo.ids import LocalIds
from streams.algo.topk import top_k
from streams.algo.usercf.pearson import N, pearson

# similarities this close (relative) are one value: the arithmetic's last bits differ
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RatedItems:
    """One user's ratings, aligned: item ids (str), ratings (float64) and the items'
    codes in the ``catalogue`` that the ratings of one refresh share (None: no codes)."""

    items: list[str]
    values: np.ndarray
    codes: np.ndarray | None = None

    @classmethod
    def of(cls, ratings: dict[str, float], catalogue: LocalIds[str] | None = None) -> RatedItems:
        items = list(ratings)
        values = np.fromiter(ratings.values(), float, len(ratings))
        return cls(items, values, None if catalogue is None else catalogue.index(items))

    def moved(
        self, changes: Mapping[str, float | None], catalogue: LocalIds[str] | None = None
    ) -> RatedItems:
        """These ratings after ``changes`` (item → new rating, None: deleted); set, not
        added, so applying a change twice is applying it once."""
        at = {item: k for k, item in enumerate(self.items)}
        keep = np.ones(len(self.items), dtype=bool)
        values = self.values.copy()
        new = {}
        for item, value in changes.items():
            k = at.get(item)
            if k is not None:
                if value is None:
                    keep[k] = False
                else:
                    values[k] = value
            elif value is not None:
                new[item] = value
        items = [i for i, kept in zip(self.items, keep.tolist(), strict=True) if kept]
        items += new
        values = np.concatenate([values[keep], np.fromiter(new.values(), float, len(new))])
        if catalogue is None or self.codes is None:
            return RatedItems(items, values)
        codes = np.concatenate([self.codes[keep], catalogue.index(new)])
        return RatedItems(items, values, codes)


@dataclass(frozen=True)
class Neighbour:
    user_id: Any  # str, or bytes on the hot path before decoding
    similarity: float
    support: int


def neighbourhood(
    partners: Sequence[Any],
    sums: np.ndarray,
    mean_u: float,
    means_v: np.ndarray,
    size: int,
    min_support: int = 1,
    shrinkage: float = 0.0,
) -> list[Neighbour]:
    """The ``size`` most similar partners with positive similarity, most similar first;
    ties broken by id so that the result does not depend on storage order."""
    if not partners:
        return []
    sims = pearson(sums, mean_u, means_v, min_support, shrinkage)
    best = top_k(partners, sims, size).tolist()
    return [Neighbour(partners[k], float(sims[k]), round(float(sums[k, N]))) for k in best]


def used_raters(sims: np.ndarray, k: int) -> np.ndarray:
    """Which raters a prediction uses, most similar first: the ``k`` most similar with a
    positive similarity, and every one tied with the k-th (which of equals to drop would
    depend on storage order and on the last bits of the arithmetic: pairs over two
    co-rated items often share one similarity, up to rounding)."""
    positive = np.flatnonzero(sims > 0)
    order = positive[np.argsort(-sims[positive], kind="stable")]
    if len(order) <= k:
        return order
    last = sims[order[k - 1]]
    return order[sims[order] >= last - TIE_TOLERANCE * max(abs(last), 1e-300)]


def predict(
    mean_u: float,
    sims: np.ndarray,
    ratings: np.ndarray,
    means: np.ndarray,
    k: int,
    bounds: tuple[float, float],
) -> float:
    """KNN around ``mean_u`` and ``means`` (the users' means or baselines) over the raters
    of one item (arrays aligned, any order)."""
    top = used_raters(sims, k)
    if len(top) == 0:
        return float(np.clip(mean_u, *bounds))
    weight = np.abs(sims[top]).sum()
    value = mean_u + float((sims[top] * (ratings[top] - means[top])).sum()) / weight
    return float(np.clip(value, *bounds))


def top_n(
    mean_u: float,
    neighbours: list[Neighbour],
    neighbour_ratings: list[RatedItems],
    neighbour_means: np.ndarray,
    exclude: set[str],
    k: int,
    n: int,
    bounds: tuple[float, float],
    catalogue: LocalIds[str] | None = None,
) -> list[tuple[str, float]]:
    """Score every item the neighbours rated and u did not; return the best ``n``.

    Each item is scored with :func:`predict` over the (at most ``k``) most similar
    neighbours who rated it. Ties go to the item more neighbours rated, then by id.
    With a ``catalogue`` the ratings carry their codes in it (coded once per refresh,
    however many users share a neighbour), else they are coded here.
    """
    if not neighbours:
        return []
    sims = np.array([nb.similarity for nb in neighbours])
    # the ratings laid out most similar rater first (stable: given order on ties), so
    # that one stable sort by item below leaves each item's raters in that order
    by_rank = np.argsort(-sims, kind="stable")
    ratings = [neighbour_ratings[r] for r in by_rank.tolist()]
    lengths = [len(r.values) for r in ratings]
    if not sum(lengths):
        return []
    values = np.concatenate([r.values for r in ratings])
    rows = np.repeat(by_rank, lengths)
    # one column per distinct item, in code order (the order of the columns decides
    # nothing, ties are broken by id below)
    if catalogue is None:
        catalogue = LocalIds()
        codes = np.concatenate([catalogue.index(r.items) for r in ratings])
    else:
        codes = np.concatenate([r.codes for r in ratings])
    present = np.zeros(len(catalogue), dtype=bool)
    present[codes] = True
    listed = np.flatnonzero(present)
    remap = np.empty(len(catalogue), dtype=np.int64)
    remap[listed] = np.arange(len(listed))
    column = remap[codes]
    candidates = [catalogue.names[c] for c in listed.tolist()]
    keep = np.fromiter((c not in exclude for c in candidates), bool, len(candidates))
    # sparse: each rating once, grouped by item, most similar rater first; an item's
    # first k raters with positive similarity predict it (as in ``predict``). Columns
    # that fit 16 bits sort by radix, ~13x faster than a lexsort of (rank, column)
    narrow = column.astype(np.uint16) if len(listed) <= 1 << 16 else column
    order = np.argsort(narrow, kind="stable")
    column, rows, values = column[order], rows[order], values[order]
    starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(column)]))
    use = ((np.arange(len(column)) - first) < k) & (sims[rows] > 0)
    size = len(candidates)
    weight = np.bincount(column, weights=np.abs(sims[rows]) * use, minlength=size)
    support = np.bincount(column, weights=use, minlength=size)
    deviation = sims[rows] * (values - neighbour_means[rows]) * use
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.bincount(column, weights=deviation, minlength=size)
        scores = np.clip(mean_u + total / weight, *bounds)
    valid = np.flatnonzero((weight > 0) & keep)
    if len(valid) > n:  # keep everything tied with the n-th best, then order those few
        cut = np.partition(-scores[valid], n - 1)[n - 1]
        valid = valid[-scores[valid] <= cut]
    ranked = sorted(valid.tolist(), key=lambda c: (-scores[c], -support[c], candidates[c]))[:n]
    return [(candidates[c], float(scores[c])) for c in ranked]


TIE_STEP = 1e-12


def stored_scores(ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Scores to store in a sorted set so that ZREVRANGE gives exactly ``ranked``'s order.

    A sorted set orders equal scores by member, not by our tie-breaks (support, id), so
    within a run of equal scores each next score is lowered by ``TIE_STEP``; a score that
    is not tied is stored exactly.
    """
    out: list[tuple[str, float]] = []
    for item, score in ranked:
        if out and score >= out[-1][1]:
            score = out[-1][1] - TIE_STEP
        out.append((item, score))
    return out
