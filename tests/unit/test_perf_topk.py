"""The vectorised top-k (one lexsort) against the loop it replaced (a Python sort with a
(−score, id) key), on rows full of ties."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.embedding.model import rank
from streams.algo.itemcf.similarity import most_similar
from streams.algo.topk import top_k


def loop_top(ids, scores, size, above):
    """The replaced code: candidates above the bound, sorted by (−score, id)."""
    keep = [k for k in range(len(ids)) if above is None or scores[k] > above]
    return sorted(keep, key=lambda k: (-scores[k], ids[k]))[: max(size, 0)]


ident = st.text(alphabet="abcxyz019", min_size=1, max_size=6)
rows = st.lists(
    st.tuples(ident, st.sampled_from([-1.0, 0.0, 0.25, 0.5, 0.5000000001, 1.0, 3.0])),
    max_size=60,
    unique_by=lambda t: t[0],
)


@settings(max_examples=400, deadline=None)
@given(row=rows, size=st.integers(0, 70), above=st.sampled_from([0.0, 1e-12, None, -0.5]))
def test_top_k_equals_the_sorted_loop(row, size, above):
    ids = [i for i, _s in row]
    scores = np.array([s for _i, s in row], dtype=np.float64)
    expected = loop_top(ids, scores, size, above)
    assert top_k(ids, scores, size, above).tolist() == expected
    as_bytes = [i.encode() for i in ids]
    assert top_k(as_bytes, scores, size, above).tolist() == expected
    assert top_k(np.array(as_bytes, dtype="S"), scores, size, above).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(row=rows, size=st.integers(1, 70))
def test_most_similar_keeps_its_answer(row, size):
    ids = [i.encode() for i, _s in row]
    sims = np.array([s for _i, s in row])
    expected = [(ids[k], float(sims[k])) for k in loop_top(ids, sims, size, 0.0)]
    assert most_similar(ids, sims, size) == expected


@settings(max_examples=200, deadline=None)
@given(row=rows, size=st.integers(1, 70), data=st.data())
def test_embedding_rank_keeps_its_answer(row, size, data):
    ids = sorted(i for i, _s in row)
    biases = np.array([s for _i, s in sorted(row)])
    vectors = np.zeros((len(ids), 2))
    excluded = data.draw(st.sets(st.integers(0, max(len(ids) - 1, 0)), max_size=len(ids)))
    exclude = np.array(sorted(k for k in excluded if k < len(ids)), dtype=np.int64)
    got = rank(np.zeros(3), ids, biases, vectors, exclude, size)
    keep = [k for k in range(len(ids)) if k not in set(exclude.tolist())]
    expected = sorted(keep, key=lambda k: (-biases[k], ids[k]))[:size]
    assert got == [(ids[k], float(biases[k])) for k in expected]
