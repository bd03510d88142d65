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
        mine = self.ratings.setdefault(user, {})
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
