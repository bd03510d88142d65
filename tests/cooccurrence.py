"""From-scratch reference for the item-to-item counts, and a reader of the stored ones."""

from __future__ import annotations

import numpy as np

from streams.state import keys


def placed_items(events, kmax: int) -> dict[str, dict[str, int]]:
    """The counting rule, plainly, in each user's stream order (fMax off): each user's
    counted items and their place in the user's sequence (one past the highest counted)."""
    rated: dict[str, set[str]] = {}
    placed: dict[str, dict[str, int]] = {}
    for e in events:
        mine, chosen = rated.setdefault(e.user_id, set()), placed.setdefault(e.user_id, {})
        if e.op == "delete":
            mine.discard(e.item_id)
            chosen.pop(e.item_id, None)
        elif e.item_id not in mine:
            mine.add(e.item_id)
            if kmax == 0 or len(chosen) < kmax:
                chosen[e.item_id] = max(chosen.values(), default=0) + 1
    return placed


def counted_sets(events, kmax: int) -> dict[str, set[str]]:
    return {u: set(chosen) for u, chosen in placed_items(events, kmax).items()}


def paired(chosen: dict[str, int], window: int) -> list[tuple[str, str]]:
    """The ordered pairs one user's counted items form (at most ``window`` apart, 0 = all)."""
    return [
        (i, j)
        for i, a in chosen.items()
        for j, b in chosen.items()
        if i != j and (window == 0 or abs(a - b) <= window)
    ]


def reference(events, kmax, window=0):
    placed = placed_items(events, kmax)
    items = sorted({e.item_id for e in events})
    index = {i: k for k, i in enumerate(items)}
    co = np.zeros((len(items), len(items)))
    n = np.zeros(len(items))
    for chosen in placed.values():
        at = np.array([index[i] for i in chosen], dtype=np.int64)
        n[at] += 1
        places = np.array(list(chosen.values()))
        near = np.abs(places[:, None] - places[None, :]) <= (window or np.inf)
        np.fill_diagonal(near, False)
        rows, cols = np.nonzero(near)
        np.add.at(co, (at[rows], at[cols]), 1)
    return items, co, n


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


def stored_placed(client, users) -> dict[str, dict[str, int]]:
    """Each user's counted items and their places, as the stored histories record them."""
    from streams.state.itemcf import decode_history

    out = {}
    for u in users:
        history = decode_history(client.hgetall(keys.user_history(u)))
        out[u] = {i: int(history.counted[history.position[i]]) for i in history.counted_items()}
    return out


def assert_cooccurrence_equals_reference(client, events, config) -> None:
    """The counts equal the reference (``config``: the item-to-item settings the worker
    ran with). On a mismatch, says first which of two faults it is: users whose stored
    counted items differ from the reference (events missing or counted differently), or
    counts that disagree with the stored histories themselves (deltas lost or applied
    twice)."""
    kmax, window = config.kmax, config.window
    items, want_co, want_n = reference(events, kmax, window)
    got_co, got_n = stored(client, items)
    if np.array_equal(got_co, want_co) and np.array_equal(got_n, want_n):
        return
    want_sets = counted_sets(events, kmax)
    got_placed = stored_placed(client, want_sets)
    got_sets = {u: set(chosen) for u, chosen in got_placed.items()}
    differ = sorted(u for u in want_sets if got_sets[u] != want_sets[u])
    index = {i: k for k, i in enumerate(items)}
    from_histories = np.zeros((len(items), len(items)))
    from_n = np.zeros(len(items))
    for chosen in got_placed.values():
        for i, j in paired(chosen, window):
            from_histories[index[i], index[j]] += 1
        for i in chosen:
            from_n[index[i]] += 1
    inconsistent = int((from_histories != got_co).sum()) + int((from_n != got_n).sum())
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


def pearson_reference(events, kmax: int, items: list[str], window: int = 0):
    """Pair sums (item i's side) and item means over counted interactions, from scratch
    (a pair only from users counting both at most ``window`` apart, 0 = any)."""
    rated = final_counted_ratings(events, kmax)
    placed = placed_items(events, kmax)
    users = sorted({u for u, _i in rated})
    r = np.array([[rated.get((u, i), np.nan) for i in items] for u in users])
    sums = {}
    for a, i in enumerate(items):
        for b, j in enumerate(items):
            both = ~np.isnan(r[:, a]) & ~np.isnan(r[:, b])
            if window:
                near = [abs(placed[u].get(i, 0) - placed[u].get(j, 0)) <= window for u in users]
                both &= np.array(near, dtype=bool)
            if a != b and both.any():
                x, y = r[both, a], r[both, b]
                sums[(i, j)] = np.array(
                    [both.sum(), x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]
                )
    means = {
        i: float(np.nanmean(r[:, a])) for a, i in enumerate(items) if (~np.isnan(r[:, a])).any()
    }
    return sums, means
