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
        copy = int(client.hget(keys.item_counts(), item) or 0)
        assert copy == n[k], f"{item}: the copy of n is {copy}, its fence holds {n[k]:.0f}"
    return co, n


def stored_counted_sets(client, users) -> dict[str, set[str]]:
    """Each user's counted items as the stored histories record them."""
    from streams.state.itemcf import decode_history

    return {
        u: set(decode_history(client.hgetall(keys.user_history(u))).counted_items()) for u in users
    }


def assert_cooccurrence_equals_reference(client, events, kmax: int) -> None:
    """The counts equal the reference. On a mismatch, says first which of two faults it
    is: users whose stored counted items differ from the reference (events missing or
    counted differently), or counts that disagree with the stored histories themselves
    (deltas lost or applied twice)."""
    items, want_co, want_n = reference(events, kmax)
    got_co, got_n = stored(client, items)
    if np.array_equal(got_co, want_co) and np.array_equal(got_n, want_n):
        return
    want_sets = counted_sets(events, kmax)
    got_sets = stored_counted_sets(client, want_sets)
    differ = sorted(u for u in want_sets if got_sets[u] != want_sets[u])
    index = {i: k for k, i in enumerate(items)}
    m = np.zeros((len(got_sets), len(items)))
    for r, chosen in enumerate(got_sets.values()):
        m[r, [index[i] for i in chosen]] = 1
    from_histories = m.T @ m
    np.fill_diagonal(from_histories, 0)
    inconsistent = int((from_histories != got_co).sum()) + int((m.sum(axis=0) != got_n).sum())
    sample = [(u, len(got_sets[u]), len(want_sets[u])) for u in differ[:8]]
    raise AssertionError(
        f"co-occurrence differs from the reference in {int((got_co != want_co).sum())} "
        f"entries; {len(differ)} users' stored counted items differ (user, stored, "
        f"reference: {sample}); {inconsistent} entries disagree with the stored histories"
    )


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
