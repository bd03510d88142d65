"""Neighbourhood, prediction and top-N against straightforward loops over the definitions."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.ids import LocalIds
from streams.algo.usercf import recommend
from streams.algo.usercf.pearson import pearson

ITEMS = [f"i{k}" for k in range(12)]


@st.composite
def scenes(draw):
    m = draw(st.integers(1, 8))
    sims = draw(st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9, 1.0]), min_size=m, max_size=m))
    neighbours = [recommend.Neighbour(f"v{j}", s, 1) for j, s in enumerate(sims)]
    ratings = [
        draw(st.dictionaries(st.sampled_from(ITEMS), st.sampled_from([1.0, 2.0, 3.5, 5.0])))
        for _ in range(m)
    ]
    means = np.array(draw(st.lists(st.floats(1, 5), min_size=m, max_size=m)))
    exclude = set(draw(st.lists(st.sampled_from(ITEMS), max_size=4)))
    return neighbours, ratings, means, exclude, draw(st.integers(1, 4)), draw(st.integers(1, 6))


def brute_force_top_n(mean_u, neighbours, ratings, means, exclude, k, n, bounds):
    order = sorted(range(len(neighbours)), key=lambda j: -neighbours[j].similarity)
    scored = []
    for item in sorted({i for r in ratings for i in r} - exclude):
        raters = [j for j in order if item in ratings[j]][:k]
        weight = sum(abs(neighbours[j].similarity) for j in raters)
        total = sum(neighbours[j].similarity * (ratings[j][item] - means[j]) for j in raters)
        score = float(np.clip(mean_u + total / weight, *bounds))
        scored.append((-score, -len(raters), item, score))
    return [(item, score) for _s, _n, item, score in sorted(scored)[:n]]


@settings(max_examples=300, deadline=None)
@given(scenes(), st.floats(1, 5), st.booleans())
def test_top_n_equals_the_definition(scene, mean_u, shared):
    """Coded here, or through a catalogue that other ratings filled first (as a refresh
    shares one over all its users' neighbours)."""
    neighbours, ratings, means, exclude, k, n = scene
    catalogue: LocalIds[str] | None = None
    if shared:
        catalogue = LocalIds()
        catalogue.index(reversed([*ITEMS, "elsewhere"]))
    arrays = [recommend.RatedItems.of(r, catalogue) for r in ratings]
    got = recommend.top_n(mean_u, neighbours, arrays, means, exclude, k, n, (0.5, 5.0), catalogue)
    expected = brute_force_top_n(mean_u, neighbours, ratings, means, exclude, k, n, (0.5, 5.0))
    assert [i for i, _ in got] == [i for i, _ in expected]
    assert np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-9)
    assert not exclude & {i for i, _ in got}


@given(st.lists(st.tuples(st.integers(1, 9), st.floats(-1, 1)), min_size=1, max_size=30))
def test_neighbourhood_is_the_k_most_similar_positive_partners(rows):
    sums = np.array([[n, 3.0 * n, 3.0 * n, 10.0 * n, 10.0 * n, 9.0 * n + s] for n, s in rows])
    partners = [f"p{j:02d}" for j in range(len(rows))]
    means = np.full(len(rows), 3.0)
    sims = pearson(sums, 3.0, means)
    hood = recommend.neighbourhood(partners, sums, 3.0, means, size=5)
    expected = sorted((p for p, s in zip(partners, sims, strict=True) if s > 0),
                      key=lambda p: (-sims[partners.index(p)], p))[:5]  # fmt: skip
    assert [nb.user_id for nb in hood] == expected


@given(
    st.lists(st.sampled_from([-0.5, 0.0, 0.2, 0.5, 0.5 + 1e-12, 0.9]), min_size=1, max_size=12),
    st.integers(1, 6),
)
def test_the_raters_a_prediction_uses_are_the_k_most_similar_and_their_ties(values, k):
    """One rule for the value and for the neighbours the reader reports with it."""
    sims = np.array(values)
    used = recommend.used_raters(sims, k).tolist()
    positive = sorted((s for s in values if s > 0), reverse=True)
    assert [sims[j] for j in used] == sorted((sims[j] for j in used), reverse=True)
    assert len(set(used)) == len(used) and all(sims[j] > 0 for j in used)
    if len(positive) <= k:
        assert len(used) == len(positive)
    else:  # every rater within rounding of the k-th, nothing below it
        kth = positive[k - 1]
        assert len(used) == sum(1 for s in positive if s >= kth - 1e-9 * kth)
    ratings, means = np.linspace(1, 5, len(values)), np.full(len(values), 3.0)
    if used:
        want = 3.0 + (sims[used] * (ratings[used] - 3.0)).sum() / np.abs(sims[used]).sum()
        got = recommend.predict(3.0, sims, ratings, means, k, (0.5, 5.0))
        assert abs(got - np.clip(want, 0.5, 5.0)) < 1e-12
