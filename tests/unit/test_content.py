"""Content vectors and cosine against a direct numpy computation; profile ranking and
the content kNN prediction against plain loops."""

from __future__ import annotations

import itertools
import math
import zlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.content import ContentConfig, profile
from streams.algo.content.vectors import YEAR_MIN, build, similar_rows, words

GENRES = ["Action", "Comedy", "Drama", "Horror"]
WORDS = ["star", "wars", "love", "night", "city", "dead"]

item_strategy = st.fixed_dictionaries(
    {
        "title": st.lists(st.sampled_from(WORDS), max_size=3).map(" ".join),
        "attributes": st.fixed_dictionaries(
            {
                "genres": st.lists(st.sampled_from(GENRES), unique=True, max_size=3),
                "year": st.integers(1930, 2020),
                "tags": st.lists(st.sampled_from(WORDS), max_size=2),
            }
        ),
    }
)
catalogue_strategy = st.dictionaries(
    st.sampled_from([f"m{k}" for k in range(12)]), item_strategy, min_size=2
)


def direct_vector(item, items, config):
    """The documented vector, written out group by group with plain loops."""

    def unit(v):
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v] if n else v

    genres = sorted({g for i in items.values() for g in i["attributes"]["genres"]})
    g = [1.0 if name in item["attributes"]["genres"] else 0.0 for name in genres]
    buckets = (2040 - YEAR_MIN) // config.year_bucket + 1
    y = [0.0] * buckets
    b = (item["attributes"]["year"] - YEAR_MIN) // config.year_bucket
    y[b] = 1.0
    if b > 0:
        y[b - 1] += 0.5
    if b < buckets - 1:
        y[b + 1] += 0.5

    def tfidf(tokens_of):
        docs = [tokens_of(i) for i in items.values()]
        width = config.hashed_words

        def col(t):
            return zlib.crc32(t.encode()) % width

        df = [0] * width
        for d in docs:
            for c in {col(t) for t in d}:
                df[c] += 1
        v = [0.0] * width
        for t in tokens_of(item):
            v[col(t)] += 1.0
        return [v[c] * (math.log((1 + len(docs)) / (1 + df[c])) + 1) for c in range(width)]

    t = tfidf(lambda i: words(i["title"]))
    tags = tfidf(lambda i: [x.lower() for x in i["attributes"]["tags"]])
    parts = []
    for weight, group in [
        (config.genre_weight, g),
        (config.year_weight, y),
        (config.words_weight, t),
        (config.tags_weight, tags),
    ]:
        parts += [weight * x for x in unit(group)]
    return np.array(parts)


@settings(max_examples=40, deadline=None)
@given(catalogue_strategy)
def test_similar_lists_are_the_cosine_of_the_direct_vectors(items):
    config = ContentConfig(hashed_words=16, similar_size=5)
    catalogue = build(items, config)
    direct = {i: direct_vector(items[i], items, config) for i in items}
    got = similar_rows(catalogue, list(range(len(catalogue))), config.similar_size, block=3)
    for i in items:
        sims = {}
        for j in items:
            if j == i:
                continue
            a, b = direct[i], direct[j]
            denominator = np.linalg.norm(a) * np.linalg.norm(b)
            sims[j] = float(a @ b / denominator) if denominator else 0.0
        want = sorted(((j, s) for j, s in sims.items() if s > 1e-12), key=lambda t: (-t[1], t[0]))
        assert len(got[i]) == len(want[:5])
        assert np.allclose([s for _j, s in got[i]], [s for _j, s in want[:5]], atol=1e-12)
        for j, s in got[i]:
            assert abs(s - sims[j]) < 1e-12


def test_items_without_attributes_are_similar_to_nothing():
    items = {"a": {"title": "", "attributes": {}}, "b": {"title": "Star", "attributes": {}}}
    catalogue = build(items, ContentConfig())
    assert similar_rows(catalogue, [0, 1], 10) == {"a": [], "b": []}


@settings(max_examples=40, deadline=None)
@given(catalogue_strategy, st.data())
def test_profile_ranking_is_the_cosine_with_the_centred_sum(items, data):
    catalogue = build(items, ContentConfig(hashed_words=16))
    ids = sorted(items)
    rated_ids = data.draw(st.lists(st.sampled_from(ids), unique=True, min_size=1))
    ratings = {i: data.draw(st.sampled_from([1.0, 3.0, 5.0])) for i in rated_ids}
    mean = sum(ratings.values()) / len(ratings)
    got = profile.rank(catalogue, ratings, mean, n=len(ids))
    p = sum((r - mean) * catalogue.vector(i) for i, r in ratings.items())
    if not np.any(p):  # all ratings equal the mean: the plain sum
        p = sum(catalogue.vector(i) for i in ratings)
    norm = np.linalg.norm(p)
    want = {}
    for j in ids:
        if j not in ratings and norm > 0:
            s = float(catalogue.vector(j) @ p / norm)
            if s > 1e-12:
                want[j] = s
    assert {j for j, _s in got} == set(want)
    for j, s in got:
        assert abs(s - want[j]) < 1e-12
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(got))


def test_a_new_item_nobody_rated_is_recommended_by_content():
    items = {
        "liked": {"title": "Night of the Dead", "attributes": {"genres": ["Horror"], "year": 1968}},
        "hated": {"title": "Love City", "attributes": {"genres": ["Comedy"], "year": 1999}},
        "new": {"title": "Dawn of the Dead", "attributes": {"genres": ["Horror"], "year": 1978}},
        "other": {"title": "City Love", "attributes": {"genres": ["Comedy"], "year": 2001}},
    }
    catalogue = build(items, ContentConfig())
    got = profile.rank(catalogue, {"liked": 5.0, "hated": 1.0}, 3.0, n=1)
    assert got[0][0] == "new"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1, 1), min_size=1, max_size=12),
    st.lists(st.sampled_from([1.0, 2.0, 4.0, 5.0]), min_size=12, max_size=12),
    st.integers(1, 5),
)
def test_content_knn_prediction_is_the_weighted_mean_of_the_k_most_similar(sims, values, k):
    sims_a = np.array(sims)
    values_a = np.array(values[: len(sims)])
    mean = float(values_a.mean())
    got = profile.predict(sims_a, values_a, mean, k)
    chosen = sorted((t for t in range(len(sims)) if sims[t] > 1e-12), key=lambda t: -sims[t])[:k]
    if not chosen:
        assert got is None
        return
    num = sum(sims[t] * (values[t] - mean) for t in chosen)
    den = sum(sims[t] for t in chosen)
    assert got is not None and abs(got - (mean + num / den)) < 1e-9
