"""From-scratch reference for the item-to-item counts, and a reader of the stored ones."""

from __future__ import annotations

import numpy as np

from streams.state import keys


def counted_sets(events, kmax: int) -> dict[str, set[str]]:
    """The counting rule, plainly, in each user's stream order (fMax off)."""
    rated: dict[str, set[str]] = {}
    counted: dict[str, set[str]] = {}
    for e in events:
        mine, chosen = rated.setdefault(e.user_id, set()), counted.setdefault(e.user_id, set())
        if e.op == "delete":
            mine.discard(e.item_id)
            chosen.discard(e.item_id)
        elif e.item_id not in mine:
            mine.add(e.item_id)
            if kmax == 0 or len(chosen) < kmax:
                chosen.add(e.item_id)
    return counted


def reference(events, kmax):
    counted = counted_sets(events, kmax)
    items = sorted({e.item_id for e in events})
    m = np.array([[i in c for i in items] for c in counted.values()], dtype=float)
    co = m.T @ m
    np.fill_diagonal(co, 0)
    return items, co, m.sum(axis=0)


def stored(client, items):
    co = np.zeros((len(items), len(items)))
    index = {i: k for k, i in enumerate(items)}
    n = np.zeros(len(items))
    for k, item in enumerate(items):
        for j, c in client.hgetall(keys.item_cooccurrence(item)).items():
            co[k, index[j.decode()]] = int(c)
        n[k] = int(client.hget(keys.item_fence(item), "n") or 0)
        assert int(client.hget(keys.item_counts(), item) or 0) == n[k]
    return co, n


def assert_cooccurrence_equals_reference(client, events, kmax: int) -> None:
    items, want_co, want_n = reference(events, kmax)
    got_co, got_n = stored(client, items)
    np.testing.assert_array_equal(got_co, want_co)
    np.testing.assert_array_equal(got_n, want_n)


def final_counted_ratings(events, kmax: int) -> dict[tuple[str, str], float]:
    """(user, item) → rating, for the counted interactions that stand at the end."""
    counted = counted_sets(events, kmax)
    ratings: dict[tuple[str, str], float] = {}
    for e in events:
        if e.op == "delete":
            ratings.pop((e.user_id, e.item_id), None)
        else:
            ratings[(e.user_id, e.item_id)] = e.rating
    return {(u, i): r for (u, i), r in ratings.items() if i in counted.get(u, set())}


def pearson_reference(events, kmax: int, items: list[str]):
    """Pair sums (item i's side) and item means over counted interactions, from scratch."""
    rated = final_counted_ratings(events, kmax)
    users = sorted({u for u, _i in rated})
    r = np.array([[rated.get((u, i), np.nan) for i in items] for u in users])
    sums = {}
    for a, i in enumerate(items):
        for b, j in enumerate(items):
            both = ~np.isnan(r[:, a]) & ~np.isnan(r[:, b])
            if a != b and both.any():
                x, y = r[both, a], r[both, b]
                sums[(i, j)] = np.array(
                    [both.sum(), x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]
                )
    means = {
        i: float(np.nanmean(r[:, a])) for a, i in enumerate(items) if (~np.isnan(r[:, a])).any()
    }
    return sums, means
