"""The history and fan-out caps against a from-scratch reference, checked after every
batch (batches of one event included), and the windowed rater load against the full one."""

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.usercf.coalesce import coalesce
from streams.algo.usercf.expansion import (
    RATER_DTYPE,
    BatchDeltas,
    ItemRaters,
    expand_item_events,
    seq_windows,
)
from streams.schemas.ratings import RatingEvent

USERS = [f"u{k}" for k in range(5)]
ITEMS = [f"i{k}" for k in range(7)]
PARTITIONS = 2


def partition_of(item: str) -> int:
    return int(item[1:]) % PARTITIONS


event = st.builds(
    lambda u, i, r, delete: RatingEvent(
        u, i, None if delete else r, 0.0, "delete" if delete else "upsert"
    ),
    st.sampled_from(USERS),
    st.sampled_from(ITEMS),
    st.sampled_from([1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 3.7]),
    st.floats(0, 1).map(lambda x: x < 0.25),
)


class CappedReference:
    """The definition, from scratch: a rating is counted if, when its user started rating
    the item, fewer than ``history`` of the user's ratings on the item's partition were
    counted; counted ratings get the item's next join seq; a pair counts on an item while
    both ratings stand, both are counted and (fan-out cap) their seqs differ ≤ fan_out."""

    def __init__(self, history: int, fan_out: int) -> None:
        self.history, self.fan_out = history, fan_out
        self.ratings: dict[tuple[str, str], float] = {}
        self.seq: dict[tuple[str, str], int] = {}
        self.next_seq: dict[str, int] = defaultdict(int)
        self.counted: dict[tuple[str, int], int] = defaultdict(int)

    def apply(self, e: RatingEvent) -> None:
        key, part = (e.user_id, e.item_id), partition_of(e.item_id)
        if e.op == "delete":
            if key in self.ratings:
                self.counted[(e.user_id, part)] -= self.seq[key] >= 0
                del self.ratings[key]
            return
        if key not in self.ratings:
            if not self.history or self.counted[(e.user_id, part)] < self.history:
                self.seq[key] = self.next_seq[e.item_id]
                self.next_seq[e.item_id] += 1
                self.counted[(e.user_id, part)] += 1
            else:
                self.seq[key] = -1
        self.ratings[key] = e.rating

    def stats(self, user: str) -> np.ndarray:
        rs = np.array([r for (u, _i), r in self.ratings.items() if u == user])
        return np.array([len(rs), rs.sum(), (rs**2).sum()])

    def pairs(self) -> dict[tuple[str, str], np.ndarray]:
        sums: dict[tuple[str, str], np.ndarray] = defaultdict(lambda: np.zeros(6))
        for (u, i), ru in self.ratings.items():
            for (v, j), rv in self.ratings.items():
                su, sv = self.seq[(u, i)], self.seq[(v, j)]
                if j != i or v == u or su < 0 or sv < 0:
                    continue
                if self.fan_out and abs(su - sv) > self.fan_out:
                    continue
                sums[(u, v)] += [1, ru, rv, ru * ru, rv * rv, ru * rv]
        return dict(sums)


class InMemoryStore:
    """Applies portions the way the engine and the Lua scripts do: coalesced pair deltas,
    stats, and each user's counted count per partition (read before, moved after)."""

    def __init__(self) -> None:
        self.stats: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(3))
        self.pairs: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
        self.counted: dict[tuple[str, int], int] = defaultdict(int)
        self.items = {i: ItemRaters.empty() for i in ITEMS}

    def apply_batch(self, events: list[tuple[int, RatingEvent]], history: int, fan_out: int):
        by_partition: dict[int, list[tuple[int, RatingEvent]]] = defaultdict(list)
        for offset, e in events:
            by_partition[partition_of(e.item_id)].append((offset, e))
        touched = []
        for part, mine in sorted(by_partition.items()):
            base = {e.user_id: self.counted[(e.user_id, part)] for _o, e in mine}
            deltas = BatchDeltas(counted_before=base)
            for offset, e in mine:
                triple = [(e.user_id, e.rating, offset)]
                expand_item_events(
                    e.item_id, self.items[e.item_id], triple, deltas, fan_out, history
                )
            for user, d in deltas.counted_delta.items():
                self.counted[(user, part)] += d
            for user, stat in deltas.stats.items():
                self.stats[user] += stat
            for user, (partners, sums) in coalesce([deltas]).items():
                for partner, row in zip(partners, sums, strict=True):
                    new = self.pairs[user].get(partner, np.zeros(6)) + row
                    if new[0] < 0.5:
                        self.pairs[user].pop(partner, None)
                    else:
                        self.pairs[user][partner] = new
            touched.append(deltas)
        return touched


def assert_equal(store: InMemoryStore, ref: CappedReference) -> None:
    expected = {p: s for p, s in ref.pairs().items() if s[0] > 0}
    got = {(u, v): s for u in store.pairs for v, s in store.pairs[u].items()}
    assert sorted(got) == sorted(expected)
    for pair, sums in got.items():
        assert np.allclose(sums, expected[pair], atol=1e-9), pair
    for user in USERS:
        assert np.allclose(store.stats[user], ref.stats(user), atol=1e-9), user
        for part in range(PARTITIONS):
            assert store.counted[(user, part)] == ref.counted[(user, part)], (user, part)
            held = {i for (u, i), s in ref.seq.items() if u == user and s >= 0}
            live = {i for i in held if (user, i) in ref.ratings and partition_of(i) == part}
            assert len(live) <= ref.history or not ref.history


@settings(max_examples=200, deadline=None)
@given(
    st.lists(event, min_size=1, max_size=60),
    st.integers(1, 3),
    st.integers(0, 3),
    st.integers(1, 6),
)
def test_history_cap_keeps_the_state_equal_to_the_reference_after_every_batch(
    events, history, fan_out, batch
):
    store, ref = InMemoryStore(), CappedReference(history, fan_out)
    indexed = list(enumerate(events))
    for start in range(0, len(indexed), batch):
        chunk = indexed[start : start + batch]
        store.apply_batch(chunk, history, fan_out)
        for _o, e in chunk:
            ref.apply(e)
        assert_equal(store, ref)


@given(st.lists(event, min_size=1, max_size=40), st.integers(1, 3))
def test_history_capped_replays_change_nothing(events, history):
    once, twice = InMemoryStore(), InMemoryStore()
    indexed = list(enumerate(events))
    once.apply_batch(indexed, history, 0)
    twice.apply_batch(indexed, history, 0)
    twice.apply_batch(indexed, history, 0)  # a replay: every offset already applied
    ref = CappedReference(history, 0)
    for e in events:
        ref.apply(e)
    assert_equal(once, ref)
    assert_equal(twice, ref)


def test_a_heavy_user_forms_pairs_with_its_first_h_ratings_only():
    store = InMemoryStore()
    store.items = defaultdict(ItemRaters.empty)
    events = [(k, RatingEvent("other", f"i{k}", 3.0, 0.0, "upsert")) for k in range(10)]
    events += [(100 + k, RatingEvent("heavy", f"i{k}", 4.0, 0.0, "upsert")) for k in range(40)]
    events += [(200, RatingEvent("late", "i97", 2.0, 0.0, "upsert"))]
    events += [(201, RatingEvent("late", "i98", 2.0, 0.0, "upsert"))]
    store.apply_batch(events, history=5, fan_out=0)
    assert store.pairs["heavy"]["other"][0] == 5 * PARTITIONS  # 5 counted per partition
    assert store.stats["heavy"][0] == 40  # the mean still uses every rating
    store.apply_batch([(300, RatingEvent("heavy", "i97", 5.0, 0.0, "upsert"))], 5, 0)
    assert "late" not in store.pairs["heavy"]  # partition 1 is full: i97 forms no pair
    # a delete of a counted rating frees its slot for the next new rating (partition 0)
    store.apply_batch([(301, RatingEvent("heavy", "i0", None, 0.0, "delete"))], 5, 0)
    store.apply_batch([(302, RatingEvent("heavy", "i98", 5.0, 0.0, "upsert"))], 5, 0)
    assert store.pairs["heavy"]["other"][0] == 5 * PARTITIONS - 1
    assert store.pairs["heavy"]["late"][0] == 1


def _subset(full: ItemRaters, users: set[str]) -> ItemRaters:
    keep = [k for k, u in enumerate(full.users) if u in users]
    state = np.zeros(len(keep), dtype=RATER_DTYPE)
    state["rating"], state["offset"] = full.ratings[keep], full.offsets[keep]
    state["seq"] = full.seqs[keep]
    return ItemRaters([full.users[k] for k in keep], state, full.next_seq)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 11), st.sampled_from([None, 2.0, 4.5])), max_size=50),
    st.lists(st.tuples(st.integers(0, 11), st.sampled_from([None, 1.0, 3.0])), max_size=6),
    st.integers(1, 4),
    st.integers(0, 2),
)
def test_the_seq_windows_hold_every_rater_a_batch_can_pair_with(history_ops, batch, cap, hist):
    """What the storage loads under the fan-out cap (acting raters + raters in
    ``seq_windows``) gives the same deltas and entries as the item's full raters."""
    full = ItemRaters.empty()
    warm = BatchDeltas()
    for offset, (u, r) in enumerate(history_ops):
        expand_item_events("i", full, [(f"u{u}", r, offset)], warm, cap, hist)
    full.changed = set()
    acting = sorted({f"u{u}" for u, _r in batch})
    partial = _subset(full, set(acting))
    windows = seq_windows(partial, acting, cap)
    inside = {
        u
        for u, s in zip(full.users, full.seqs, strict=True)
        if any(lo <= s <= hi for lo, hi in windows)
    }
    partial = _subset(full, set(acting) | inside)
    outs = []
    for state in (full, partial):
        out = BatchDeltas()
        for offset, (u, r) in enumerate(batch, start=1000):
            expand_item_events("i", state, [(f"u{u}", r, offset)], out, cap, hist)
        outs.append(out)
    a, b = (coalesce([o]) for o in outs)
    assert sorted(a) == sorted(b)
    for user in a:
        assert a[user][0] == b[user][0]
        assert np.allclose(a[user][1], b[user][1])
    assert full.changed == partial.changed and full.next_seq == partial.next_seq
    for user in full.changed:
        assert full.packed(user) == partial.packed(user)
