"""Item-to-item math against a from-scratch numpy reference, checked after every event."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.itemcf.cooccurrence import CooccurrenceDeltas, UserHistory, expand_user_events
from streams.algo.itemcf.similarity import cosine_row, most_similar, score_recent

USERS = ["a", "b", "c", "d"]
ITEMS = ["i0", "i1", "i2", "i3", "i4", "i5"]

events_strategy = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from(ITEMS),
        st.one_of(st.none(), st.sampled_from([1.0, 2.5, 4.0, 5.0])),
    ),
    max_size=60,
)


class Reference:
    """The counting rule written plainly: each user's counted items with their place in
    the user's sequence, counts recomputed from scratch over every pair of users' items."""

    def __init__(self, kmax: int, fmax: int, window: int = 0) -> None:
        self.kmax, self.fmax, self.window = kmax, fmax, window
        self.rated: dict[str, set[str]] = {u: set() for u in USERS}
        self.placed: dict[str, dict[str, int]] = {u: {} for u in USERS}  # item → place
        self.ratings: dict[tuple[str, str], float] = {}

    @property
    def counted(self) -> dict[str, set[str]]:
        return {u: set(placed) for u, placed in self.placed.items()}

    def apply(self, user: str, item: str, rating: float | None) -> None:
        if rating is None:
            self.rated[user].discard(item)
            self.placed[user].pop(item, None)
            self.ratings.pop((user, item), None)
            return
        self.ratings[(user, item)] = rating
        if item not in self.rated[user]:
            self.rated[user].add(item)
            n_item = sum(item in c for c in self.placed.values())
            room = self.kmax == 0 or len(self.placed[user]) < self.kmax
            if room and (self.fmax == 0 or n_item < self.fmax):
                self.placed[user][item] = max(self.placed[user].values(), default=0) + 1

    def pairs(self, user: str, i: str, j: str) -> bool:
        """Whether the user's counted items i and j form a pair."""
        placed = self.placed[user]
        if i == j or i not in placed or j not in placed:
            return False
        return self.window == 0 or abs(placed[i] - placed[j]) <= self.window

    def pair_sums(self, i: str, j: str) -> np.ndarray:
        """n, Σr_i, Σr_j, Σr_i², Σr_j², Σr_i·r_j over users counting both, from scratch."""
        both = [u for u in USERS if self.pairs(u, i, j)]
        ri = np.array([self.ratings[(u, i)] for u in both])
        rj = np.array([self.ratings[(u, j)] for u in both])
        return np.array(
            [len(both), ri.sum(), rj.sum(), (ri**2).sum(), (rj**2).sum(), (ri * rj).sum()]
        )

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        co = np.array(
            [[sum(self.pairs(u, i, j) for u in USERS) for j in ITEMS] for i in ITEMS], dtype=float
        )
        n = np.array([sum(i in self.placed[u] for u in USERS) for i in ITEMS], dtype=float)
        return co, n


@settings(max_examples=150, deadline=None)
@given(
    events_strategy,
    st.sampled_from([0, 1, 2, 3]),
    st.sampled_from([0, 1, 2]),
    st.sampled_from([0, 1, 2]),
)
def test_counts_equal_reference_after_every_event(events, kmax, fmax, window):
    histories = {u: UserHistory.empty() for u in USERS}
    counts: dict[str, int] = {}
    co = np.zeros((len(ITEMS), len(ITEMS)))
    ref = Reference(kmax, fmax, window)
    for offset, (user, item, rating) in enumerate(events):
        out = CooccurrenceDeltas()
        expand_user_events(
            histories[user], [(item, rating, offset)], out, counts, kmax, fmax, window=window
        )
        for i, row in out.pairs.items():
            for j, d in row.items():
                co[ITEMS.index(i), ITEMS.index(j)] += d
        ref.apply(user, item, rating)
        want_co, want_n = ref.matrix()
        np.testing.assert_array_equal(co, want_co)
        got_n = np.array([counts.get(i, 0) for i in ITEMS])
        np.testing.assert_array_equal(got_n, want_n)
        assert histories[user].rated() == ref.rated[user]
        assert set(histories[user].counted_items()) == ref.counted[user]


@settings(max_examples=100, deadline=None)
@given(events_strategy, st.sampled_from([0, 2, 3]), st.sampled_from([0, 1, 2]))
def test_pearson_sums_equal_reference_after_every_event(events, kmax, window):
    histories = {u: UserHistory.empty() for u in USERS}
    counts: dict[str, int] = {}
    sums: dict[tuple[str, str], np.ndarray] = {}
    rating_sums: dict[str, float] = {}
    ref = Reference(kmax, 0, window)
    for offset, (user, item, rating) in enumerate(events):
        out = CooccurrenceDeltas()
        expand_user_events(
            histories[user], [(item, rating, offset)], out, counts, kmax, 0, None, True, window
        )
        for i, row in out.sums.items():
            for j, delta in row.items():
                sums[(i, j)] = sums.get((i, j), np.zeros(6)) + delta
        for i, delta in out.rating_sums.items():
            rating_sums[i] = rating_sums.get(i, 0.0) + delta
        ref.apply(user, item, rating)
        for i in ITEMS:
            want = sum(ref.ratings[(u, i)] for u in USERS if i in ref.counted[u])
            assert abs(rating_sums.get(i, 0.0) - want) < 1e-9
            for j in ITEMS:
                if i != j:
                    got = sums.get((i, j), np.zeros(6))
                    np.testing.assert_allclose(got, ref.pair_sums(i, j), atol=1e-9)


@given(events_strategy)
def test_a_replayed_event_changes_nothing(events):
    history, counts = UserHistory.empty(), {}
    for offset, (_user, item, rating) in enumerate(events):
        expand_user_events(history, [(item, rating, offset)], CooccurrenceDeltas(), counts)
        again = CooccurrenceDeltas()
        before = dict(counts)
        expand_user_events(history, [(item, rating, offset)], again, counts)
        assert again.pairs == {} and again.counts == {} and counts == before


def test_recorded_decisions_override_the_caps():
    history, counts = UserHistory.empty(), {"x": 5}
    out = CooccurrenceDeltas()
    expand_user_events(history, [("x", 4.0, 0)], out, counts, fmax=1, decided={0}.__contains__)
    assert history.counted_items() == ["x"] and out.counts == {"x": 1}


def test_a_window_pairs_only_near_items_and_a_delete_retracts_exactly_those():
    history, counts, out = UserHistory.empty(), {}, CooccurrenceDeltas()
    events = [("a", 4.0, 0), ("b", 4.0, 1), ("c", 4.0, 2), ("d", 4.0, 3)]
    expand_user_events(history, events, out, counts, window=1)
    assert out.pairs == {
        "a": {"b": 1},
        "b": {"a": 1, "c": 1},
        "c": {"b": 1, "d": 1},
        "d": {"c": 1},
    }
    gone = CooccurrenceDeltas()
    expand_user_events(history, [("c", None, 4)], gone, counts, window=1)
    assert gone.pairs == {"c": {"b": -1, "d": -1}, "b": {"c": -1}, "d": {"c": -1}}
    again = CooccurrenceDeltas()  # d holds place 4, so a new item takes place 5: pairs d only
    expand_user_events(history, [("e", 4.0, 5)], again, counts, window=1)
    assert again.pairs == {"e": {"d": 1}, "d": {"e": 1}}


def test_recent_is_newest_first():
    history, counts = UserHistory.empty(), {}
    for offset, (item, r) in enumerate([("x", 1.0), ("y", 2.0), ("z", 3.0), ("x", 5.0)]):
        expand_user_events(history, [(item, r, offset)], CooccurrenceDeltas(), counts)
    assert history.recent(2) == [("x", 5.0), ("z", 3.0)]


@given(
    st.lists(st.integers(0, 20), min_size=1, max_size=30),
    st.integers(1, 40),
    st.data(),
)
def test_cosine_row_matches_numpy(co, n_item, data):
    n_partners = data.draw(st.lists(st.integers(0, 40), min_size=len(co), max_size=len(co)))
    got = cosine_row(np.array(co), n_item, np.array(n_partners))
    for k, (c, n) in enumerate(zip(co, n_partners, strict=True)):
        want = c / np.sqrt(n_item * n) if n else 0.0
        assert abs(got[k] - want) < 1e-12


def test_most_similar_orders_by_similarity_then_id():
    sims = np.array([0.5, 0.9, 0.5, 0.0, 0.7])
    assert most_similar(["e", "a", "b", "c", "d"], sims, 3) == [("a", 0.9), ("d", 0.7), ("b", 0.5)]


@given(st.data())
def test_score_recent_matches_brute_force(data):
    recent_items = data.draw(st.lists(st.sampled_from(ITEMS), unique=True, max_size=4))
    recent = [(i, data.draw(st.sampled_from([1.0, 3.0, 5.0]))) for i in recent_items]
    sim = st.floats(0.01, 1.0, allow_nan=False)
    similar = [
        sorted(data.draw(st.dictionaries(st.sampled_from(ITEMS), sim)).items()) for _ in recent
    ]
    exclude = set(data.draw(st.lists(st.sampled_from(ITEMS))))
    got = score_recent(recent, similar, exclude, 0.8, 3)
    totals: dict[str, float] = {}
    for t, ((_i, r), row) in enumerate(zip(recent, similar, strict=True)):
        for j, s in row:
            if j not in exclude:
                totals[j] = totals.get(j, 0.0) + 0.8**t * r * s
    want = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert [(i, round(s, 9)) for i, s, _b in got] == [(i, round(s, 9)) for i, s in want]
    for item, _s, because in got:
        assert because in dict(recent) and any(
            j == item for j, _ in similar[recent_items.index(because)]
        )
