"""The served list's cap per "because" item, its readable match figure, and the
significance weight of user-user similarities: properties, each against a from-scratch
reference."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.blend import RRF_K, diversify, fuse, match, serve
from streams.algo.usercf.pearson import N, pearson, significance


@st.composite
def fused_lists(draw):
    size = draw(st.integers(0, 40))
    items = [f"i{k}" for k in range(size)]
    reasons = {}
    fused = []
    for rank, item in enumerate(items):
        sources = draw(st.sampled_from([["item-cf"], ["content"], ["item-cf", "popular"]]))
        if draw(st.booleans()):
            reasons[item] = draw(st.sampled_from(["a", "b", "c", "d"]))
        fused.append((item, 1.0 / (RRF_K + rank + 1), sources))
    return fused, reasons


def reason_of(entry, reasons):
    return reasons.get(entry[0]) if "item-cf" in entry[2] else None


@settings(max_examples=300, deadline=None)
@given(lists=fused_lists(), per_reason=st.integers(0, 4), n=st.integers(1, 20))
def test_diversify_caps_each_reason_and_keeps_the_order_within_each_part(lists, per_reason, n):
    fused, reasons = lists
    got = diversify(fused, reasons, per_reason, n)
    assert len(got) == min(n, len(fused))
    assert len({e[0] for e in got}) == len(got)  # no item twice, all from fused
    if per_reason == 0:
        assert got == fused[:n]
        return
    # from scratch: walk in order, take what is under its cap, then fill from the rest
    kept, waiting, taken = [], [], {}
    for entry in fused:
        why = reason_of(entry, reasons)
        if why is not None and taken.get(why, 0) >= per_reason:
            waiting.append(entry)
        elif len(kept) < n:
            taken[why] = taken.get(why, 0) + (why is not None)
            kept.append(entry)
    assert got == kept + waiting[: n - len(kept)]
    capped = [reason_of(e, reasons) for e in got[: len(kept)]]
    for why in set(capped) - {None}:
        assert capped.count(why) <= per_reason


def test_one_recent_rating_no_longer_fills_the_top_ten():
    """User 196's case: eight of ten items owed to one rating; with a cap of 3 the list
    keeps its best three of those and takes the next best items instead."""
    lists = {"item-cf": [(f"m{k}", 10.0 - k) for k in range(20)]}
    reasons = {f"m{k}": ("up-in-smoke" if k < 8 else f"r{k}") for k in range(20)}
    fused, label = serve(lists, {"item-cf": 1.0}, 5, 10, reasons=reasons, per_reason=3)
    items = [i for i, _s, _x in fused]
    assert label == "blend" and len(items) == 10
    assert sum(reasons[i] == "up-in-smoke" for i in items) == 3
    assert items[:3] == ["m0", "m1", "m2"] and items[3:10] == [f"m{k}" for k in range(8, 15)]
    plain, _label = serve(lists, {"item-cf": 1.0}, 5, 10)
    assert [i for i, _s, _x in plain] == [f"m{k}" for k in range(10)]


def test_match_is_100_at_the_top_of_every_source_and_falls_with_rank():
    weights = {"item-cf": 1.0, "content": 0.2, "popular": 0.0}
    lists = {"item-cf": [("a", 1.0), ("b", 0.5)], "content": [("a", 1.0), ("c", 0.9)]}
    scores = {i: s for i, s, _x in fuse(lists, weights, 10)}
    assert match(scores["a"], weights) == 100
    assert match(scores["b"], weights) < 100 and match(scores["c"], weights) < match(
        scores["b"], weights
    )
    assert match(scores["b"], weights) == round(100 * (1 / (RRF_K + 2)) / (1.2 / (RRF_K + 1)))
    assert match(0.5, {}) == 0


@settings(max_examples=200, deadline=None)
@given(
    ratings=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=30),
    min_support=st.integers(1, 6),
    shrinkage=st.floats(0, 200),
)
def test_significance_weights_pearson_by_n_over_n_plus_lambda(ratings, min_support, shrinkage):
    a = np.array([r for r, _s in ratings], dtype=float)
    b = np.array([s for _r, s in ratings], dtype=float)
    mean_a, mean_b = a.mean() + 0.25, b.mean() - 0.25  # overall means differ from co-rated
    sums = np.array([len(a), a.sum(), b.sum(), (a * a).sum(), (b * b).sum(), (a * b).sum()])
    raw = float(pearson(sums, mean_a, mean_b))
    da, db = a - mean_a, b - mean_b
    denominator = np.sqrt((da * da).sum() * (db * db).sum())
    want_raw = float(np.clip((da * db).sum() / denominator, -1, 1)) if denominator > 1e-6 else 0.0
    assert abs(raw - want_raw) < 1e-6
    n = len(a)
    want = 0.0 if n < min_support else want_raw * n / (n + shrinkage)
    got = float(pearson(sums, mean_a, mean_b, min_support, shrinkage))
    assert abs(got - want) < 1e-6
    assert abs(float(significance(raw, sums[N], min_support, shrinkage)) - got) < 1e-12
