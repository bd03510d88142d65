"""One served top-N from several sources, and one rating estimate from several predictors.

Top-N: sources score on different scales (a predicted rating, a sum of cosines, a count,
a dot product), so they are put on one scale, their ranks: item j gets
Σ_s w_s / (RRF_K + rank_s(j)), rank from 1, over the sources that list it (weighted
reciprocal-rank fusion, Cormack et al., SIGIR 2009). A user with fewer than
``COLD_START_RATINGS`` ratings is routed to popularity and content only: the
collaborative sources know too little about them yet.

Rating: a linear stack, r̂ = w₀ + Σ_s w_s · r̂_s, a missing predictor replaced by the
embedding's (which predicts for anyone once one rating exists).

Dependency-free: the worker, the reader and the evaluation share it.
"""

from __future__ import annotations

from collections.abc import Mapping

RRF_K = 60.0
DEPTH = 50  # how deep each source's list is read
SOURCES = ("item-cf", "user-cf", "content", "embedding", "popular")
COLD_START_SOURCES = ("content", "popular")
# Fewer ratings than this: the cold-start route. Measured on the first 50,000 events of
# ML-100K: 1 (only users with no rating yet) beats 3 and 5, because item-to-item already
# serves a user well from their first rating (docs/evaluation.md).
COLD_START_RATINGS = 1
# Chosen on the first 50,000 events of ML-100K (prequential hit rate@10 of the fused
# list, 216 combinations), keeping every source in (new items reach lists through content
# and the network); the report covers the other 50,000 (docs/evaluation.md).
DEFAULT_WEIGHTS = {
    "item-cf": 1.0,
    "user-cf": 0.03,
    "content": 0.2,
    "embedding": 0.02,
    "popular": 0.08,
}
# Least squares on the prequential predictions of the first 50,000 events of ML-100K
# (``streamrec eval`` reports the fit as fitted_rating_weights).
RATING_WEIGHTS = {"intercept": 0.0282, "embedding": 0.7284, "user-cf": 0.2546}


def route(
    weights: Mapping[str, float], ratings: int, threshold: int = COLD_START_RATINGS
) -> dict[str, float]:
    """The weights that apply to a user with ``ratings`` ratings (cold-start routing)."""
    if ratings >= threshold:
        return dict(weights)
    cold = {s: w for s, w in weights.items() if s in COLD_START_SOURCES and w > 0}
    return cold or {"popular": 1.0}


def fuse(
    lists: Mapping[str, list[tuple[str, float]]],
    weights: Mapping[str, float],
    n: int,
    k: float = RRF_K,
) -> list[tuple[str, float, list[str]]]:
    """(item, fused score, sources that listed it, strongest first), best first; ties
    by id. A source with weight 0 or missing from ``weights`` is left out."""
    scores: dict[str, float] = {}
    parts: dict[str, list[tuple[float, str]]] = {}
    for source, ranked in lists.items():
        weight = weights.get(source, 0.0)
        if weight <= 0:
            continue
        for rank, (item, _score) in enumerate(ranked[:DEPTH], start=1):
            part = weight / (k + rank)
            scores[item] = scores.get(item, 0.0) + part
            parts.setdefault(item, []).append((part, source))
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [(i, score, [s for _p, s in sorted(parts[i], reverse=True)]) for i, score in best]


def serve(
    lists: Mapping[str, list[tuple[str, float]]],
    weights: Mapping[str, float],
    ratings: int,
    n: int,
    cold_start_ratings: int = COLD_START_RATINGS,
) -> tuple[list[tuple[str, float, list[str]]], str]:
    """The served list of a user with ``ratings`` ratings and the label it is served
    under: the routed blend, or the popular items (``"popular"``) while no personal
    source lists anything. ``lists["popular"]`` must already leave out what they rated."""
    routed = route(weights, ratings, cold_start_ratings)
    if not any(lists.get(s) for s in routed if s != "popular"):
        routed = {"popular": 1.0}  # nothing personal yet
    fused = fuse(lists, routed, n)
    personal = any(sources[0] != "popular" for _i, _s, sources in fused)
    return fused, "blend" if personal else "popular"


def stack(
    predictions: Mapping[str, float | None],
    weights: Mapping[str, float],
    bounds: tuple[float, float],
) -> float | None:
    """w₀ + Σ_s w_s · r̂_s, clipped to ``bounds``; None if the embedding cannot predict."""
    fallback = predictions.get("embedding")
    if fallback is None:
        return None
    value = weights.get("intercept", 0.0)
    for source, weight in weights.items():
        if source != "intercept" and weight:
            predicted = predictions.get(source)
            value += weight * (fallback if predicted is None else predicted)
    return min(max(value, bounds[0]), bounds[1])
