"""The vectorised top-k (one lexsort) against the loop it replaced (a Python sort with a
(−score, id) key), on rows full of ties."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.algo.embedding.model import rank
from streams.algo.itemcf.similarity import most_similar
from streams.algo.topk import top_k, top_k_rows


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


cells = st.sampled_from([-np.inf, -1.0, 0.0, 1e-13, 0.25, 0.5, 0.5000000001, 1.0, 3.0])
matrices = st.tuples(st.integers(0, 8), st.integers(1, 40)).flatmap(
    lambda shape: st.lists(cells, min_size=shape[0] * shape[1], max_size=shape[0] * shape[1]).map(
        lambda flat: np.array(flat, dtype=np.float64).reshape(shape)
    )
)


@settings(max_examples=400, deadline=None)
@given(
    matrix=matrices,
    size=st.integers(0, 45),
    above=st.sampled_from([0.0, 1e-12, None, -0.5, -np.inf]),
)
def test_top_k_rows_equals_top_k_of_each_row(matrix, size, above):
    """Every row of the batched helper is what ``top_k`` gives that row alone (ids in
    sorted order, so ties by column are ties by id), ties and excluded (-inf) included."""
    scores = matrix
    ids = [f"i{k:03d}" for k in range(scores.shape[1])]
    got = top_k_rows(scores, size, above)
    assert len(got) == len(matrix)
    for row, positions in zip(scores, got, strict=True):
        assert positions.tolist() == top_k(ids, row, size, above).tolist()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    items=st.integers(0, 30),
    users=st.integers(0, 6),
    size=st.integers(1, 35),
    seed=st.integers(0, 2**16),
    cells=st.integers(1, 12),
)
def test_rank_many_equals_rank_of_each_user(items, users, size, seed, cells, monkeypatch):
    """The batched embedding ranking (blocks of users as matrix products) gives each user
    what ``rank`` gives them alone: ties from coarse integer vectors, rated items left out,
    and blocks as small as one user (``BLOCK_CELLS``)."""
    from streams.algo import topk
    from streams.algo.embedding import model

    monkeypatch.setattr(topk, "BLOCK_CELLS", cells)
    rng = np.random.default_rng(seed)
    ids = [f"i{k:03d}" for k in range(items)]
    biases = rng.integers(-1, 2, items).astype(float)
    vectors = rng.integers(-1, 2, (items, 3)).astype(float)
    rows = rng.integers(-1, 2, (users, 4)).astype(float)
    excludes = [np.flatnonzero(rng.random(items) < 0.3).astype(np.int64) for _u in range(users)]
    got = model.rank_many(rows, ids, biases, vectors, excludes, size)
    want = [rank(r, ids, biases, vectors, ex, size) for r, ex in zip(rows, excludes, strict=True)]
    assert got == want


@settings(max_examples=150, deadline=None)
@given(
    rows=st.integers(1, 5),
    width=st.integers(1, 600),
    size=st.integers(1, 12),
    levels=st.integers(1, 40),
    excluded=st.floats(0, 0.9),
    above=st.sampled_from([0.0, 1e-12, None, -np.inf]),
    seed=st.integers(0, 2**16),
)
def test_top_k_rows_on_wide_rows_with_the_block_bound(
    rows, width, size, levels, excluded, above, seed
):
    """Rows wide enough for the block-maxima bound (width >= 8 x size), with few distinct
    values (ties across blocks) and excluded (-inf) cells: still ``top_k`` of each row."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(-levels, levels + 1, (rows, width)) / levels
    scores[rng.random((rows, width)) < excluded] = -np.inf
    ids = [f"i{k:04d}" for k in range(width)]
    got = top_k_rows(scores, size, above)
    for row, positions in zip(scores, got, strict=True):
        assert positions.tolist() == top_k(ids, row, size, above).tolist()
