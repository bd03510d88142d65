"""The neighbours' ratings kept between refreshes: read again exactly when a user's
``ver`` moved, and always what the store holds for that version."""

from __future__ import annotations

import asyncio

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engines.usercf import NeighbourRatings


class Versioned:
    """Users' ratings and versions in memory, as ``apply_user.lua`` keeps them: every
    change of a user's ratings bumps that user's ``ver``."""

    def __init__(self) -> None:
        self.ratings: dict[str, dict[str, float]] = {}
        self.ver: dict[str, int] = {}
        self.read: list[str] = []

    def rate(self, user: str, item: str, value: float | None) -> None:
        self.apply(user, {item: value})

    def apply(self, user: str, changes: dict[str, float | None]) -> None:
        """One apply_user.lua call: the ratings it sets (none: only pair sums moved),
        ``ver`` + 1."""
        mine = self.ratings.setdefault(user, {})
        for item, value in changes.items():
            if value is None:
                mine.pop(item, None)
            else:
                mine[item] = value
        self.ver[user] = self.ver.get(user, 0) + 1

    async def versions(self, users):
        return [self.ver.get(u, 0) for u in users]

    async def versioned_ratings(self, users):
        self.read.extend(users)
        return [(self.ver.get(u, 0), dict(self.ratings.get(u, {}))) for u in users]


USERS = [f"u{k}" for k in range(5)]
ITEMS = [f"i{k}" for k in range(8)]
step = st.tuples(
    st.sampled_from(USERS), st.sampled_from(ITEMS), st.none() | st.sampled_from([1.0, 3.5, 5.0])
)


@settings(max_examples=150, deadline=None)
@given(
    rounds=st.lists(
        st.tuples(st.lists(step, max_size=4), st.sets(st.sampled_from(USERS))), max_size=8
    )
)
def test_the_cache_gives_the_stored_ratings_and_reads_only_moved_users(rounds):
    store = Versioned()
    cache = NeighbourRatings(store)  # type: ignore[arg-type]
    seen: dict[str, int] = {}

    async def scenario():
        for changes, asked in rounds:
            for user, item, value in changes:
                store.rate(user, item, value)
            users = sorted(asked)
            store.read.clear()
            got = await cache.of(users)
            moved = [u for u in users if seen.get(u) != store.ver.get(u, 0)]
            assert store.read == moved  # unchanged users are not read again
            for u in users:
                seen[u] = store.ver.get(u, 0)
                rows = got[u]
                want = store.ratings.get(u, {})
                assert dict(zip(rows.items, rows.values.tolist(), strict=True)) == want
                names = [cache.catalogue.names[c] for c in rows.codes.tolist()]
                assert names == rows.items  # codes valid in the shared catalogue

    asyncio.run(scenario())


def test_past_its_bounds_the_cache_starts_again():
    store = Versioned()
    for k, user in enumerate(USERS):
        store.rate(user, ITEMS[k], 4.0)
    cache = NeighbourRatings(store, max_users=2)  # type: ignore[arg-type]

    async def scenario():
        await cache.of(USERS)
        assert len(cache.rows) == 5
        store.read.clear()
        got = await cache.of(USERS[:1])  # over the bound: dropped first, then read
        assert store.read == USERS[:1] and len(cache.rows) == 1
        assert np.array_equal(got["u0"].values, [4.0])

    asyncio.run(scenario())


# a batch: each touched user's rating changes ({} = only their pair sums moved), applied
# by this worker (the cache is told) or by another writer (it is not)
batch = st.tuples(
    st.dictionaries(
        st.sampled_from(USERS),
        st.dictionaries(st.sampled_from(ITEMS), st.none() | st.sampled_from([1.0, 3.5, 5.0])),
        max_size=4,
    ),
    st.booleans(),  # ours
    st.sets(st.sampled_from(USERS)),  # users refreshed after it
)


@settings(max_examples=200, deadline=None)
@given(rounds=st.lists(batch, max_size=10))
def test_rows_moved_forward_by_our_batches_equal_the_store_and_are_not_read(rounds):
    store = Versioned()
    cache = NeighbourRatings(store)  # type: ignore[arg-type]

    async def scenario():
        for touched, ours, asked in rounds:
            for user, changes in touched.items():
                store.apply(user, changes)
            kept = {u: cache.rows[u][0] for u in cache.rows}
            if ours:
                cache.advance({u: store.ver[u] for u in touched}, touched)
            users = sorted(asked)
            store.read.clear()
            got = await cache.of(users)
            for u in users:
                want = store.ratings.get(u, {})
                assert dict(zip(got[u].items, got[u].values.tolist(), strict=True)) == want
                names = [cache.catalogue.names[c] for c in got[u].codes.tolist()]
                assert names == got[u].items
            if ours:  # a row kept and moved forward is not read again
                moved_on = {u for u in touched if kept.get(u) == store.ver[u] - 1}
                assert not moved_on & set(store.read)

    asyncio.run(scenario())


def test_a_row_two_versions_behind_is_not_moved_but_read_again():
    store = Versioned()
    store.rate("u0", "i0", 4.0)
    cache = NeighbourRatings(store)  # type: ignore[arg-type]

    async def scenario():
        await cache.of(["u0"])
        store.rate("u0", "i1", 2.0)  # another writer: ver 2, the cache not told
        store.rate("u0", "i2", 3.0)  # ours: ver 3
        cache.advance({"u0": 3}, {"u0": {"i2": 3.0}})
        store.read.clear()
        got = await cache.of(["u0"])
        assert store.read == ["u0"]
        assert dict(zip(got["u0"].items, got["u0"].values.tolist(), strict=True)) == {
            "i0": 4.0,
            "i1": 2.0,
            "i2": 3.0,
        }

    asyncio.run(scenario())
