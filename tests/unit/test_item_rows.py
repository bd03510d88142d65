"""The worker's copy of co-occurrence rows (streams/state/itemcf_rows.py): the sparse merge
against a dictionary reference after every delta, and the version chain that decides when a
copy may be trusted."""

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.ids import LocalIds
from streams.algo.itemcf.cooccurrence import CooccurrenceDeltas
from streams.algo.topk import top_k
from streams.state.itemcf_rows import NamesAt, Row, RowCache, merged, planned_from_copies

deltas = st.lists(
    st.dictionaries(st.integers(0, 30), st.integers(-3, 3).filter(bool), max_size=12),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(deltas)
def test_merge_equals_the_dictionary_after_every_delta(steps):
    """What apply_cooccurrence.lua does to the hash: add, drop what reaches 0."""
    want: dict[int, int] = {}
    partners, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
    for delta in steps:
        for j, d in delta.items():
            want[j] = want.get(j, 0) + d
            if want[j] == 0:
                del want[j]
        ids = np.array(list(delta), dtype=np.int64)[::-1]  # any order in
        values = np.array(list(delta.values()), dtype=np.int64)[::-1]
        partners, counts = merged(partners, counts, ids, values)
        assert partners.tolist() == sorted(want)  # ascending out
        assert counts.tolist() == [want[j] for j in sorted(want)]


def cached(version: int = 3) -> RowCache:
    cache = RowCache(max_entries=100)
    cache.put("i", Row(np.array([1, 4]), np.array([2, 5]), version))
    return cache


def test_the_next_batch_moves_the_copy_forward():
    cache = cached()
    assert cache.advance("i", np.array([4, 7]), np.array([-5, 1]), version=4, applied=True)
    row = cache.rows["i"]
    assert (row.partners.tolist(), row.counts.tolist(), row.version) == ([1, 7], [2, 1], 4)


def test_another_writers_batch_in_between_drops_the_copy():
    cache = cached()  # version 3; someone applied 4, ours is 5
    assert not cache.advance("i", np.array([1]), np.array([1]), version=5, applied=True)
    assert "i" not in cache.rows and cache.dropped == 1


def test_a_skipped_batch_keeps_the_copy_only_if_nothing_else_moved():
    cache = cached()  # a redo the fence skipped: the row is what it was
    assert cache.advance("i", np.array([1]), np.array([1]), version=3, applied=False)
    assert cache.rows["i"].counts.tolist() == [2, 5]
    # skipped, but the version moved: another writer applied a batch meanwhile
    assert not cache.advance("i", np.array([1]), np.array([1]), version=4, applied=False)
    assert "i" not in cache.rows


def test_no_copy_is_never_current():
    cache = RowCache(max_entries=100)
    assert not cache.advance("i", np.array([1]), np.array([1]), version=1, applied=True)
    assert not cache.rows


def test_the_least_recently_used_rows_go_past_the_bound():
    cache = RowCache(max_entries=5)
    for item in "ab":
        cache.put(item, Row(np.arange(2), np.ones(2, np.int64), 0))
    cache.get("a")  # a used again: b is the oldest
    cache.put("c", Row(np.arange(2), np.ones(2, np.int64), 0))
    assert list(cache.rows) == ["a", "c"] and cache.entries == 4
    off = RowCache(max_entries=0)  # 0 = no copies
    off.put("a", Row(np.arange(0), np.ones(0, np.int64), 0))
    assert not off.rows


def test_ties_break_by_the_ids_bytes_through_local_ids():
    ids: LocalIds[bytes] = LocalIds()
    at = ids.index([b"z", b"b", b"m", b"a"])
    assert ids.index([b"m"]).tolist() == [2] and len(ids) == 4  # stable ids
    sims = np.array([0.5, 0.5, 0.9, 0.5])
    best = top_k(NamesAt(ids, at), sims, 3)
    assert [ids.names[at[k]] for k in best.tolist()] == [b"m", b"a", b"b"]


held_rows = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.dictionaries(st.sampled_from([f"p{k}" for k in range(12)]), st.integers(1, 4), max_size=8),
    max_size=4,
)
batch = st.lists(  # per partition: Δc per (item, partner), Δn per item
    st.tuples(
        st.dictionaries(
            st.sampled_from(["a", "b", "c", "d", "e"]),
            st.dictionaries(
                st.sampled_from([f"p{k}" for k in range(14)]), st.integers(-3, 3).filter(bool)
            ),
            max_size=5,
        ),
        st.dictionaries(st.sampled_from(["a", "b", "c", "e", "f"]), st.integers(-2, 2)),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(held_rows, batch)
def test_the_plan_from_copies_equals_the_dictionaries_summed(rows, parts):
    """Every held item of the batch: its row after all partitions' deltas (zeros
    dropped), and set_cooccurrence.lua's arguments: each touched partner's new count,
    or gone; the copy's version, last batch and length; Δn; the partitions."""
    ids: LocalIds[bytes] = LocalIds()
    ids.index(b"q%d" % k for k in range(3))  # ids of other rows come first
    cache = RowCache(max_entries=1000)
    for item, row in rows.items():
        names = sorted(row, key=lambda j: ids.index([j.encode()])[0])
        at = ids.index(j.encode() for j in names)
        cache.put(item, Row(at, np.array([row[j] for j in names], np.int64), 7, f"f0:{len(row)}"))
    planned_parts = []
    for k, (pairs, counts) in enumerate(parts):
        deltas = CooccurrenceDeltas()
        deltas.pairs = {i: dict(r) for i, r in pairs.items()}
        deltas.counts = dict(counts)
        planned_parts.append((f"f{k + 1}", 10 * k + 5, deltas))
    plans = planned_from_copies(ids, cache, planned_parts)
    batch_items = {i for _f, _e, d in planned_parts for i in [*d.pairs, *d.counts]}
    assert set(plans) == batch_items & set(rows)
    for item, plan in plans.items():
        want = dict(rows[item])
        touched: set[str] = set()
        for _f, _e, d in planned_parts:
            for j, v in d.pairs.get(item, {}).items():
                want[j] = want.get(j, 0) + v
                touched.add(j)
        want = {j: v for j, v in want.items() if v}
        got = {
            ids.names[p].decode(): int(c) for p, c in zip(plan.partners, plan.counts, strict=True)
        }
        assert got == want
        assert plan.partners.tolist() == sorted(plan.partners.tolist())
        version, last, length, dn, flat, gone, *fences = plan.args
        assert (version, last, length) == (7, f"f0:{len(rows[item])}", len(rows[item]))
        assert dn == sum(d.counts.get(item, 0) for _f, _e, d in planned_parts)
        pairs = orjson.loads(flat)
        assert dict(zip(pairs[0::2], map(int, pairs[1::2]), strict=True)) == {
            j: want[j] for j in touched & set(want)
        }
        assert sorted(orjson.loads(gone)) == sorted(touched - set(want))
        own = [(f, e) for f, e, d in planned_parts if item in d.pairs or item in d.counts]
        assert fences == [x for pair in own for x in pair]
        assert plan.last == f"{own[-1][0]}:{own[-1][1]}"
