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
# At most this many items per "because" item in a served list (``diversify``; 0 = no cap).
# Off by default: on ML-100K every cap cost hit rate@10 (held-out half: off 0.2077, 8 per
# reason 0.2051, 6 0.1978, 3 0.1615; python -m bench.tune_blend, docs/evaluation.md).
PER_REASON = 0
# Least squares on the prequential predictions of the first 50,000 events of ML-100K
# (``streamrec eval`` reports the fit as fitted_rating_weights).
RATING_WEIGHTS = {"intercept": -0.0792, "embedding": 0.6801, "user-cf": 0.3378}


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


def match(score: float, weights: Mapping[str, float], k: float = RRF_K) -> int:
    """The fused score as a 0–100 figure a person can read: 100 when every source that
    serves the user ranks the item first, less the lower and the fewer they rank it
    (the fused score itself stays in the list beside it)."""
    best = sum(w for w in weights.values() if w > 0) / (k + 1)
    return max(0, min(100, round(100 * score / best))) if best > 0 else 0


def routed_weights(
    weights: Mapping[str, float], ratings: int, label: str, threshold: int = COLD_START_RATINGS
) -> dict[str, float]:
    """The weights a list served under ``label`` (``serve``'s) was fused with."""
    return {"popular": 1.0} if label == "popular" else route(weights, ratings, threshold)


def because(item: str, sources: list[str], reasons: Mapping[str, str]) -> str | None:
    """The recent item that put ``item`` on the item-to-item list, if that list has it."""
    return reasons.get(item) if "item-cf" in sources else None


def diversify(
    fused: list[tuple[str, float, list[str]]],
    reasons: Mapping[str, str],
    per_reason: int,
    n: int,
) -> list[tuple[str, float, list[str]]]:
    """The best ``n`` of ``fused`` (best first) with at most ``per_reason`` items owing
    their place to one "because" item: one recent rating otherwise fills most of a list
    with its neighbours (8 of 10 for ML-100K's user 196). An item over its reason's cap
    waits; if too few others are left, the waiting ones fill the list in their order.
    ``per_reason`` 0 keeps ``fused``'s order."""
    if per_reason <= 0:
        return fused[:n]
    kept: list[tuple[str, float, list[str]]] = []
    waiting: list[tuple[str, float, list[str]]] = []
    taken: dict[str, int] = {}
    for entry in fused:
        if len(kept) == n:
            break
        why = because(entry[0], entry[2], reasons)
        if why is not None and taken.get(why, 0) >= per_reason:
            waiting.append(entry)
            continue
        if why is not None:
            taken[why] = taken.get(why, 0) + 1
        kept.append(entry)
    return kept + waiting[: n - len(kept)]


def serve(
    lists: Mapping[str, list[tuple[str, float]]],
    weights: Mapping[str, float],
    ratings: int,
    n: int,
    cold_start_ratings: int = COLD_START_RATINGS,
    reasons: Mapping[str, str] | None = None,
    per_reason: int = 0,
) -> tuple[list[tuple[str, float, list[str]]], str]:
    """The served list of a user with ``ratings`` ratings and the label it is served
    under: the routed blend, or the popular items (``"popular"``) while no personal
    source lists anything. ``lists["popular"]`` must already leave out what they rated.
    With ``per_reason`` > 0, at most that many items per "because" item (``diversify``)."""
    routed = route(weights, ratings, cold_start_ratings)
    if not any(lists.get(s) for s in routed if s != "popular"):
        routed = {"popular": 1.0}  # nothing personal yet
    if per_reason > 0 and reasons:
        fused = diversify(fuse(lists, routed, n + DEPTH), reasons, per_reason, n)
    else:
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
