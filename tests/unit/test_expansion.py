"""Pair expansion against the from-scratch reference, after every single event."""

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.usercf.coalesce import coalesce
from streams.algo.usercf.expansion import BatchDeltas, ItemRaters, expand_item_events
from streams.algo.usercf.pearson import pair_deltas, pearson, swap_sides
from streams.schemas.ratings import RatingEvent
from tests.reference import Reference, final_ratings

USERS = [f"u{k}" for k in range(6)]
ITEMS = [f"i{k}" for k in range(5)]

event = st.builds(
    lambda u, i, r, delete: RatingEvent(
        u, i, None if delete else r, 0.0, "delete" if delete else "upsert"
    ),
    st.sampled_from(USERS),
    st.sampled_from(ITEMS),
    st.sampled_from([1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 3.7]),
    st.booleans(),
)


class InMemoryUsers:
    """Applies coalesced deltas the way the Lua script does, for checking the math only."""

    def __init__(self) -> None:
        self.stats = defaultdict(lambda: np.zeros(3))
        self.pairs: dict[str, dict[str, np.ndarray]] = defaultdict(dict)

    def apply(self, deltas: BatchDeltas) -> None:
        for user, stat in deltas.stats.items():
            self.stats[user] += stat
        for user, (partners, sums) in coalesce([deltas]).items():
            for partner, row in zip(partners, sums, strict=True):
                new = self.pairs[user].get(partner, np.zeros(6)) + row
                if new[0] < 0.5:
                    self.pairs[user].pop(partner, None)
                else:
                    self.pairs[user][partner] = new


def check(users: InMemoryUsers, events) -> None:
    ratings = final_ratings(events)
    ref = Reference(ratings) if ratings else None
    rated_users = {u for u, _ in ratings}
    for user in USERS:
        count = users.stats[user][0]
        if user not in rated_users:
            assert abs(count) < 1e-9 and not users.pairs[user]
            continue
        assert np.allclose(users.stats[user], ref.stats(user), atol=1e-9)
        assert sorted(users.pairs[user]) == ref.co_raters(user)
        for partner, sums in users.pairs[user].items():
            assert np.allclose(sums, ref.pair_sums(user, partner), atol=1e-9)
            sim = pearson(sums, ref.mean(user), ref.mean(partner))
            assert abs(float(sim) - ref.similarity(user, partner)) < 1e-9


@settings(max_examples=150, deadline=None)
@given(st.lists(event, min_size=1, max_size=60), st.integers(1, 7))
def test_every_event_keeps_the_state_equal_to_the_reference(events, batch):
    users = InMemoryUsers()
    items = {i: ItemRaters.empty() for i in ITEMS}
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        deltas = BatchDeltas()
        for offset, e in enumerate(chunk, start=start):
            expand_item_events(e.item_id, items[e.item_id], [(e.user_id, e.rating, offset)], deltas)
        users.apply(deltas)
        check(users, events[: start + len(chunk)])


@given(st.lists(event, min_size=1, max_size=40))
def test_replayed_duplicates_change_nothing(events):
    once, twice = InMemoryUsers(), InMemoryUsers()
    items_a = {i: ItemRaters.empty() for i in ITEMS}
    items_b = {i: ItemRaters.empty() for i in ITEMS}
    deltas = BatchDeltas()
    for offset, e in enumerate(events):
        expand_item_events(e.item_id, items_a[e.item_id], [(e.user_id, e.rating, offset)], deltas)
    once.apply(deltas)
    deltas = BatchDeltas()
    for offset, e in list(enumerate(events)) + list(enumerate(events)):  # a replay
        expand_item_events(e.item_id, items_b[e.item_id], [(e.user_id, e.rating, offset)], deltas)
    twice.apply(deltas)
    check(once, events)
    check(twice, events)


def capped_reference(events, cap: int) -> dict[tuple[str, str], np.ndarray]:
    """Pair sums where (u, v) count on an item only while |join seq u − join seq v| ≤ cap,
    a rater's join seq being assigned when they (re)start rating the item."""
    ratings: dict[tuple[str, str], float] = {}
    seq: dict[tuple[str, str], int] = {}
    next_seq: dict[str, int] = defaultdict(int)
    for e in events:
        key = (e.user_id, e.item_id)
        if e.op == "delete":
            ratings.pop(key, None)
            continue
        if key not in ratings:
            seq[key] = next_seq[e.item_id]
            next_seq[e.item_id] += 1
        ratings[key] = e.rating
    sums: dict[tuple[str, str], np.ndarray] = defaultdict(lambda: np.zeros(6))
    for (u, i), ru in ratings.items():
        for (v, j), rv in ratings.items():
            if j == i and v != u and abs(seq[(u, i)] - seq[(v, j)]) <= cap:
                sums[(u, v)] += [1, ru, rv, ru * ru, rv * rv, ru * rv]
    return sums


@settings(max_examples=150, deadline=None)
@given(st.lists(event, min_size=1, max_size=60), st.integers(1, 3), st.integers(1, 5))
def test_fan_out_cap_forms_and_retracts_exactly_the_capped_pairs(events, cap, batch):
    users = InMemoryUsers()
    items = {i: ItemRaters.empty() for i in ITEMS}
    for start in range(0, len(events), batch):
        deltas = BatchDeltas()
        for offset, e in enumerate(events[start : start + batch], start=start):
            triple = [(e.user_id, e.rating, offset)]
            expand_item_events(e.item_id, items[e.item_id], triple, deltas, fan_out=cap)
        users.apply(deltas)
    expected = {pair: s for pair, s in capped_reference(events, cap).items() if s[0] > 0}
    got = {(u, v): s for u in users.pairs for v, s in users.pairs[u].items()}
    assert sorted(got) == sorted(expected)
    for pair, sums in got.items():
        assert np.allclose(sums, expected[pair], atol=1e-9)


def test_fan_out_cap_bounds_the_pairs_one_event_forms():
    raters = ItemRaters.empty()
    deltas = BatchDeltas()
    for n in range(100):
        expand_item_events("i", raters, [(f"u{n}", 4.0, n)], deltas, fan_out=10)
    before = len(coalesce([deltas]).get("u99", ([], None))[0])
    assert before == 10  # the newest rater pairs with the 10 raters before it only


def rows_event_by_event(events: list[RatingEvent]) -> list[tuple[str, str, np.ndarray]]:
    """From scratch, no caps: for each event that changes a rating, its user's side of
    the pair with every other current rater of the item, then each rater's side."""
    raters: dict[str, dict[str, float | None]] = defaultdict(dict)  # first rating order
    out = []
    for e in events:
        mine = raters[e.item_id]
        old = mine.get(e.user_id)
        mine[e.user_id] = e.rating
        if old == e.rating:
            continue
        others = [v for v, r in mine.items() if v != e.user_id and r is not None]
        if not others:
            continue
        rows = pair_deltas(old, e.rating, np.array([mine[v] for v in others]))
        out += [(e.user_id, v, row) for v, row in zip(others, rows, strict=True)]
        out += [(v, e.user_id, row) for v, row in zip(others, swap_sides(rows), strict=True)]
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(event, max_size=60))
def test_the_batch_rows_are_the_event_by_event_rows_bit_for_bit(events):
    deltas = BatchDeltas()
    by_item: dict[str, list] = defaultdict(list)
    for offset, e in enumerate(events):
        by_item[e.item_id].append((e.user_id, e.rating, offset))
    for item, item_events in by_item.items():  # one item after another, as the engine does
        expand_item_events(item, ItemRaters.empty(), item_events, deltas)
    ordered = [e for item in by_item for e in events if e.item_id == item]
    want = rows_event_by_event(ordered)
    dest, partner, rows = deltas.rows()
    got = [
        (deltas.names[a], deltas.names[b], r) for a, b, r in zip(dest, partner, rows, strict=True)
    ]
    assert [(a, b) for a, b, _r in got] == [(a, b) for a, b, _r in want]
    assert all(np.array_equal(g, w) for (_a, _b, g), (_c, _d, w) in zip(got, want, strict=True))
