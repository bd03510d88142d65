"""Pair expansion: what one item's rating events change for every user they touch.

This runs in exactly one place per item (the owner of the item's partition), so two
users rating the same item at the same moment are serialised here and no co-rating
contribution is lost or doubled. The result is a set of per-user deltas that commute,
so they can be applied to each user's state in any order, by any worker.

Vectorised per event (numpy over the item's raters) and coalesced per batch, so a batch
costs O(events × raters) in C and one delta row per (user, partner) pair it touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streams.cf.pearson import WIDTH, pair_deltas, stats_delta, swap_sides

# NaN rating = retracted; seq = the order in which raters (re)joined the item.
RATER_DTYPE = np.dtype([("rating", "<f8"), ("offset", "<i8"), ("seq", "<i8")])


class ItemRaters:
    """One item's raters: their current rating (NaN after a delete), the source offset of
    the event that set it (replayed duplicates, with no newer offset, are skipped) and the
    sequence number with which they joined the item's raters (for the fan-out cap)."""

    def __init__(self, users: list[str], state: np.ndarray) -> None:
        self.users = list(users)
        self.position = {u: k for k, u in enumerate(self.users)}
        self.ratings = np.array(state["rating"], dtype=np.float64)
        self.offsets = np.array(state["offset"], dtype=np.int64)
        self.seqs = np.array(state["seq"], dtype=np.int64)
        self.next_seq = int(self.seqs.max()) + 1 if len(self.seqs) else 0
        self.changed: set[str] = set()

    @classmethod
    def empty(cls) -> ItemRaters:
        return cls([], np.zeros(0, dtype=RATER_DTYPE))

    def _slot(self, user: str) -> int:
        k = self.position.get(user)
        if k is None:
            k = len(self.users)
            self.users.append(user)
            self.position[user] = k
            self.ratings = np.append(self.ratings, np.nan)
            self.offsets = np.append(self.offsets, -1)
            self.seqs = np.append(self.seqs, -1)
        return k

    def rating(self, user: str) -> float | None:
        k = self.position.get(user)
        if k is None or np.isnan(self.ratings[k]):
            return None
        return float(self.ratings[k])

    def packed(self, user: str) -> bytes:
        k = self.position[user]
        row = (self.ratings[k], self.offsets[k], self.seqs[k])
        return np.array([row], dtype=RATER_DTYPE).tobytes()


@dataclass
class BatchDeltas:
    """Per-user changes of one batch, before coalescing: rows of (user, partner, Δsums)."""

    users: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    ratings: dict[str, dict[str, float | None]] = field(default_factory=dict)
    _dest: list[np.ndarray] = field(default_factory=list)
    _partner: list[np.ndarray] = field(default_factory=list)
    _rows: list[np.ndarray] = field(default_factory=list)

    def index(self, user: str) -> int:
        k = self.users.get(user)
        if k is None:
            k = self.users[user] = len(self.names)
            self.names.append(user)
        return k

    def add_rows(self, dest: np.ndarray, partner: np.ndarray, rows: np.ndarray) -> None:
        self._dest.append(dest)
        self._partner.append(partner)
        self._rows.append(rows)

    def coalesced(self) -> dict[str, tuple[list[str], np.ndarray]]:
        """{user: (partners, (k, 6) summed deltas from that user's side)}."""
        if not self._rows:
            return {}
        dest = np.concatenate(self._dest)
        partner = np.concatenate(self._partner)
        rows = np.concatenate(self._rows)
        key = dest * len(self.names) + partner
        unique, inverse = np.unique(key, return_inverse=True)
        sums = np.zeros((len(unique), WIDTH))
        np.add.at(sums, inverse, rows)
        dest_u, partner_u = np.divmod(unique, len(self.names))
        out: dict[str, tuple[list[str], np.ndarray]] = {}
        bounds = np.flatnonzero(np.diff(dest_u)) + 1
        for chunk in np.split(np.arange(len(unique)), bounds):
            if len(chunk):
                user = self.names[int(dest_u[chunk[0]])]
                out[user] = ([self.names[int(p)] for p in partner_u[chunk]], sums[chunk])
        return out


def expand_item_events(
    item_id: str,
    raters: ItemRaters,
    events: list[tuple[str, float | None, int]],
    out: BatchDeltas,
    fan_out: int = 0,
) -> None:
    """Apply ``(user, new rating or None, source offset)`` events of one item, in order.

    With ``fan_out`` > 0 a pair (u, v) counts on this item only while both rate it and
    their join sequence numbers differ by at most ``fan_out``: a new rater pairs with the
    ``fan_out`` most recent raters before it (and later ones pair with it in turn). The
    relation depends only on stored sequence numbers, so a re-rating or a delete retracts
    exactly the pairs that were formed. 0 means every co-rater (exact Pearson).
    """
    for user, new, source_offset in events:
        k = raters._slot(user)
        if source_offset <= raters.offsets[k]:
            continue  # a replayed duplicate of something already applied
        old = raters.rating(user)
        raters.offsets[k] = source_offset
        raters.ratings[k] = np.nan if new is None else new
        if old is None and new is not None:
            raters.seqs[k] = raters.next_seq  # (re)joins as the most recent rater
            raters.next_seq += 1
        raters.changed.add(user)
        if old == new:
            continue
        me = out.index(user)
        out.stats[user] = out.stats.get(user, np.zeros(3)) + stats_delta(old, new)
        out.ratings.setdefault(user, {})[item_id] = new
        mask = ~np.isnan(raters.ratings)
        mask[k] = False
        if fan_out > 0:
            mask &= np.abs(raters.seqs - raters.seqs[k]) <= fan_out
        if not mask.any():
            continue
        others = [raters.users[j] for j in np.flatnonzero(mask)]
        partner_idx = np.fromiter((out.index(v) for v in others), dtype=np.int64)
        mine = pair_deltas(old, new, raters.ratings[mask])
        out.add_rows(np.full(len(others), me), partner_idx, mine)
        out.add_rows(partner_idx, np.full(len(others), me), swap_sides(mine))
