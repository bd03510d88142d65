"""Pair expansion: what one item's rating events change for every user they touch.

This runs in exactly one place per item (the owner of the item's partition), so two
users rating the same item at the same moment are serialised here and no co-rating
contribution is lost or doubled. The result is a set of per-user deltas that commute,
so they can be applied to each user's state in any order, by any worker.

Vectorised per event (numpy over the item's raters) and coalesced per batch, so a batch
costs O(events × raters) in C and one delta row per (user, partner) pair it touched. The
caps (docs/algorithm.md) bound that: the fan-out cap to 2·fan_out partners per event, the
history cap to a fixed number of pair-forming ratings per user and partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streams.algo.usercf.pearson import SU, SUU, SUV, SV, SVV, WIDTH, N, stats_delta, swap_sides

# NaN rating = retracted; seq = the order in which raters (re)joined the item, -1 for a
# rating the history cap left out (it forms no pairs).
RATER_DTYPE = np.dtype([("rating", "<f8"), ("offset", "<i8"), ("seq", "<i8")])


class ItemRaters:
    """One item's raters: their current rating (NaN after a delete), the source offset of
    the event that set it (replayed duplicates, with no newer offset, are skipped) and the
    sequence number with which they joined the item's raters (for the fan-out cap).

    It may hold only some raters (``next_seq`` given): with the fan-out cap an event needs
    only the raters whose sequence numbers lie within the cap of its own (the storage
    loads just those), so its cost does not grow with the item's audience."""

    def __init__(self, users: list[str], state: np.ndarray, next_seq: int | None = None) -> None:
        self.users = list(users)
        self.position = {u: k for k, u in enumerate(self.users)}
        self.ratings = np.array(state["rating"], dtype=np.float64)
        self.offsets = np.array(state["offset"], dtype=np.int64)
        self.seqs = np.array(state["seq"], dtype=np.int64)
        if next_seq is None:
            next_seq = int(self.seqs.max()) + 1 if len(self.seqs) else 0
        self.next_seq = next_seq
        self.first_new_seq = next_seq  # joins of this batch get seqs from here on
        self.reindex = False  # the stored join index misses these raters: write them all
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

    def joined(self, everyone: bool = False) -> list[tuple[int, str]]:
        """(seq, user) of the raters that joined in this batch (the join index's new rows),
        or of every rater with a join seq."""
        fresh = np.flatnonzero(self.seqs >= (0 if everyone else self.first_new_seq))
        return [(int(self.seqs[k]), self.users[k]) for k in fresh]

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
    # history cap, per user: counted ratings on this portion's partition before the batch
    # (given), and the batch's change of that count (computed)
    counted_before: dict[str, int] = field(default_factory=dict)
    counted_delta: dict[str, int] = field(default_factory=dict)
    # per event that formed pairs: the user, its partners, their ratings of the item and
    # the change (Δn, Δsu, Δsuu, Δr); the rows are built once per batch (``rows``)
    _me: list[int] = field(default_factory=list)
    _partners: list[np.ndarray] = field(default_factory=list)
    _others: list[np.ndarray] = field(default_factory=list)
    _changes: list[tuple[float, float, float, float]] = field(default_factory=list)

    def index(self, user: str) -> int:
        k = self.users.get(user)
        if k is None:
            k = self.users[user] = len(self.names)
            self.names.append(user)
        return k

    def counted(self, user: str) -> int:
        return self.counted_before.get(user, 0) + self.counted_delta.get(user, 0)

    def _count(self, user: str, delta: int) -> None:
        self.counted_delta[user] = self.counted_delta.get(user, 0) + delta

    def add_pairs(
        self,
        me: int,
        partners: np.ndarray,
        others: np.ndarray,
        old: float | None,
        new: float | None,
    ) -> None:
        """User ``me``'s rating went from ``old`` to ``new`` while ``partners`` (codes)
        rated the item ``others``: both sides of each pair change."""
        self._me.append(me)
        self._partners.append(partners)
        self._others.append(others)
        self._changes.append((*stats_delta(old, new), (new or 0.0) - (old or 0.0)))

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (user, partner, Δsums) row in event order, each event's user's side with
        each partner first, then each partner's side: the rows ``pair_deltas`` and
        ``swap_sides`` give event by event, built for the whole batch at once."""
        if not self._me:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, WIDTH))
        lengths = np.fromiter(map(len, self._partners), np.int64, len(self._partners))
        partners, others = np.concatenate(self._partners), np.concatenate(self._others)
        me = np.repeat(np.asarray(self._me, dtype=np.int64), lengths)
        d_n, d_su, d_suu, d_prod = np.repeat(np.asarray(self._changes), lengths, axis=0).T
        mine = np.empty((len(partners), WIDTH))
        mine[:, N], mine[:, SU], mine[:, SUU] = d_n, d_su, d_suu
        mine[:, SV], mine[:, SVV], mine[:, SUV] = (
            others * d_n,
            others * others * d_n,
            others * d_prod,
        )
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        at_mine = starts + np.arange(len(partners))  # 2·start + position within the event
        at_theirs = at_mine + np.repeat(lengths, lengths)
        dest, partner = np.empty(2 * len(me), np.int64), np.empty(2 * len(me), np.int64)
        values = np.empty((2 * len(me), WIDTH))
        dest[at_mine], partner[at_mine], values[at_mine] = me, partners, mine
        dest[at_theirs], partner[at_theirs], values[at_theirs] = partners, me, swap_sides(mine)
        return dest, partner, values


def expand_item_events(
    item_id: str,
    raters: ItemRaters,
    events: list[tuple[str, float | None, int]],
    out: BatchDeltas,
    fan_out: int = 0,
    history_cap: int = 0,
) -> None:
    """Apply ``(user, new rating or None, source offset)`` events of one item, in order.

    Fan-out cap: with ``fan_out`` > 0 a pair (u, v) counts on this item only while both
    rate it and their join sequence numbers differ by at most ``fan_out``: a new rater
    pairs with the ``fan_out`` most recent raters before it (and later ones pair with it
    in turn). History cap: with ``history_cap`` > 0 a rating forms pairs (is *counted*)
    only if, when the user started rating the item, fewer than ``history_cap`` of the
    user's ratings on this portion's partition were counted (``out.counted``); a delete
    of a counted rating frees its slot for the user's next new rating, a re-rating keeps
    the decision. A rating left out keeps seq −1 and pairs with no one, but still counts
    in the user's mean. Both relations depend only on stored state (seq, counted), so a
    re-rating or a delete retracts exactly the pairs that were formed. 0 = no cap.
    """
    codes = np.full(len(raters.users), -1, dtype=np.int64)  # each rater's ``out.index``
    for user, new, source_offset in events:
        k = raters._slot(user)
        # one sequence: a user's events are all in one ratings partition, as long as its
        # count stays the one the state was built with (streams.topics.check_partition_layout)
        if source_offset <= raters.offsets[k]:
            continue  # a replayed duplicate of something already applied
        old = raters.rating(user)
        raters.offsets[k] = source_offset
        raters.ratings[k] = np.nan if new is None else new
        if old is None and new is not None:
            if history_cap <= 0 or out.counted(user) < history_cap:
                raters.seqs[k] = raters.next_seq  # (re)joins as the most recent rater
                raters.next_seq += 1
                out._count(user, 1)
            else:
                raters.seqs[k] = -1  # over the history cap: forms no pairs
        elif old is not None and new is None and raters.seqs[k] >= 0:
            out._count(user, -1)  # frees a slot
        raters.changed.add(user)
        if old == new:
            continue
        me = out.index(user)
        out.stats[user] = out.stats.get(user, np.zeros(3)) + stats_delta(old, new)
        out.ratings.setdefault(user, {})[item_id] = new
        if raters.seqs[k] < 0:
            continue
        mask = ~np.isnan(raters.ratings) & (raters.seqs >= 0)
        mask[k] = False
        if fan_out > 0:
            mask &= np.abs(raters.seqs - raters.seqs[k]) <= fan_out
        partners = np.flatnonzero(mask)
        if not len(partners):
            continue
        if len(codes) < len(raters.users):  # raters joined: not coded yet
            codes = np.append(codes, np.full(len(raters.users) - len(codes), -1))
        for j in partners[codes[partners] < 0].tolist():
            codes[j] = out.index(raters.users[j])
        out.add_pairs(me, codes[partners], raters.ratings[partners], old, new)


def seq_windows(raters: ItemRaters, users: list[str], fan_out: int) -> list[tuple[int, int]]:
    """Inclusive ranges of stored join seqs whose raters ``users``' events may pair with
    under the fan-out cap: each user's own window, and the newest raters' for new joins."""
    stored = raters.next_seq
    ranges = [(stored - fan_out, stored - 1)]
    for user in users:
        k = raters.position.get(user)
        if k is not None and raters.seqs[k] >= 0:
            s = int(raters.seqs[k])
            ranges.append((s - fan_out, s + fan_out))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted((max(lo, 0), min(hi, stored - 1)) for lo, hi in ranges):
        if lo > hi:
            continue
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
