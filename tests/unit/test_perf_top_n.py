"""top_n with items hashed to columns (first-seen order) against the version that sorted
the item ids (np.unique): the same list, ties and all."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.usercf.recommend import Neighbour, RatedItems, top_n


def sorted_columns_top_n(mean_u, neighbours, ratings, means, exclude, k, n, bounds):
    """The replaced implementation (np.unique over the item ids, np.isin for exclusion)."""
    lengths = [len(r) for r in ratings]
    if not neighbours or not sum(lengths):
        return []
    items = np.concatenate([np.array(list(r), dtype=str) for r in ratings if r])
    values = np.concatenate([np.fromiter(r.values(), float, len(r)) for r in ratings])
    rows = np.repeat(np.arange(len(neighbours)), lengths)
    candidates, column = np.unique(items, return_inverse=True)
    keep = ~np.isin(candidates, list(exclude)) if exclude else np.ones(len(candidates), bool)
    sims = np.array([nb.similarity for nb in neighbours])
    rank = np.empty(len(neighbours), dtype=np.int64)
    rank[np.argsort(-sims, kind="stable")] = np.arange(len(neighbours))
    dev = np.zeros((len(neighbours), len(candidates)))
    rated = np.zeros((len(neighbours), len(candidates)), dtype=bool)
    dev[rank[rows], column] = values - means[rows]
    rated[rank[rows], column] = True
    sims = sims[np.argsort(-sims, kind="stable")]
    use = rated & (np.cumsum(rated, axis=0) <= k) & (sims[:, None] > 0)
    weight = (np.abs(sims)[:, None] * use).sum(axis=0)
    support = use.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.clip(mean_u + (sims[:, None] * dev * use).sum(axis=0) / weight, *bounds)
    valid = np.flatnonzero((weight > 0) & keep)
    ranked = sorted(valid.tolist(), key=lambda c: (-scores[c], -support[c], candidates[c]))[:n]
    return [(str(candidates[c]), float(scores[c])) for c in ranked]


items = st.sampled_from([f"i{k}" for k in range(25)])
neighbourhood = st.lists(
    st.tuples(
        st.sampled_from([0.1, 0.5, 0.5, 0.9, 1.0]),
        st.dictionaries(items, st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0]), max_size=12),
        st.sampled_from([2.5, 3.0, 3.5]),
    ),
    max_size=8,
)


@settings(max_examples=400, deadline=None)
@given(
    scene=neighbourhood,
    exclude=st.sets(items, max_size=6),
    mean_u=st.sampled_from([2.0, 3.0, 3.7]),
    k=st.integers(1, 8),
    n=st.integers(1, 30),
)
def test_top_n_equals_the_sorted_column_version(scene, exclude, mean_u, k, n):
    neighbours = [Neighbour(f"v{j}", sim, 1) for j, (sim, _r, _m) in enumerate(scene)]
    ratings = [r for _s, r, _m in scene]
    means = np.array([m for _s, _r, m in scene])
    bounds = (1.0, 5.0)
    got = top_n(
        mean_u, neighbours, [RatedItems.of(r) for r in ratings], means, exclude, k, n, bounds
    )
    expected = sorted_columns_top_n(mean_u, neighbours, ratings, means, exclude, k, n, bounds)
    assert got == expected


def test_top_n_past_16_bit_columns_equals_the_sorted_column_version():
    """Over 65,536 distinct items the columns no longer fit the radix sort's 16 bits."""
    rng = np.random.default_rng(7)
    shared = {f"s{j}": float(rng.integers(1, 6)) for j in range(50)}
    scene = [
        (sim, {**shared, **{f"i{k}-{j}": float(rng.integers(1, 6)) for j in range(25_000)}}, m)
        for k, (sim, m) in enumerate([(0.5, 3.0), (0.9, 3.5), (0.5, 2.5)])
    ]
    neighbours = [Neighbour(f"v{j}", sim, 1) for j, (sim, _r, _m) in enumerate(scene)]
    ratings = [r for _s, r, _m in scene]
    means = np.array([m for _s, _r, m in scene])
    got = top_n(3.0, neighbours, [RatedItems.of(r) for r in ratings], means, set(), 2, 40, (1, 5))
    assert len({i for r in ratings for i in r}) > 1 << 16
    assert got == sorted_columns_top_n(3.0, neighbours, ratings, means, set(), 2, 40, (1, 5))
