"""Co-occurrence counts from users' histories, with the caps that bound the cost per event.

c(i, j) is the number of users whose *counted* interactions include both i and j, and
n(i) the number of counted interactions with i; cosine(i, j) = c(i, j) / sqrt(n(i)·n(j)).
With a ``window`` W > 0 a pair counts only if the two were rated within W of each other
in the user's sequence: each counted interaction holds a position (one past the highest
of the user's counted ones when it is counted), and c(i, j) is the number of users
counting both at positions at most W apart. What a user rates next is most often near
what they rated last (ML-100K, docs/evaluation.md), and an event then touches at most W
pairs (2W for a delete) however long the history.
Following Schelter et al. (SSDBM 2019), a user's counted history holds at most ``kmax``
items and an item counts at most ``fmax`` interactions, so one event touches at most
``kmax`` pairs however long the user's history or popular the item. Which interactions
count is recorded per (user, item), so a delete retracts exactly the pairs it formed and
a re-rating (the interaction stands) changes nothing.

With ``with_sums`` the same counted pairs also carry the six mean-independent co-rating
sums of ``streams.algo.usercf.pearson`` (item i's rating first), so item–item Pearson over
co-raters follows exactly, as user–user Pearson does; then a re-rating of a counted item
changes its pairs' sums too.

This runs in exactly one place per user (the owner of the user's ratings partition), so a
user's events are applied in order and the deltas commute across users.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from streams.algo.usercf.pearson import WIDTH, pair_deltas, swap_sides

# NaN rating = retracted; offset = source offset of the event that set it (replays are
# skipped); counted = the interaction's position in the user's sequence (from 1) while it
# is part of the co-occurrence counts, 0 otherwise (histories written before the window
# hold 1 for every counted item: one position, all paired, as they were counted).
HISTORY_DTYPE = np.dtype([("rating", "<f8"), ("offset", "<i8"), ("counted", "<i8")])


class UserHistory:
    """One user's rated items with rating, source offset and whether they are counted."""

    def __init__(self, items: list[str], state: np.ndarray) -> None:
        self.items = list(items)
        self.position = {item: k for k, item in enumerate(self.items)}
        self.ratings = np.array(state["rating"], dtype=np.float64)
        self.offsets = np.array(state["offset"], dtype=np.int64)
        self.counted = np.array(state["counted"], dtype=np.int64)
        self.changed: set[str] = set()

    @classmethod
    def empty(cls) -> UserHistory:
        return cls([], np.zeros(0, dtype=HISTORY_DTYPE))

    def _slot(self, item: str) -> int:
        k = self.position.get(item)
        if k is None:
            k = self.position[item] = len(self.items)
            self.items.append(item)
            self.ratings = np.append(self.ratings, np.nan)
            self.offsets = np.append(self.offsets, -1)
            self.counted = np.append(self.counted, 0)
        return k

    def rating(self, item: str) -> float | None:
        k = self.position.get(item)
        if k is None or np.isnan(self.ratings[k]):
            return None
        return float(self.ratings[k])

    def counted_items(self) -> list[str]:
        return [self.items[k] for k in np.flatnonzero(self.counted)]

    def partners(self, position: int, window: int, but: str | None = None) -> list[str]:
        """The counted items a pair with an item at ``position`` forms with: all of them,
        or (``window`` > 0) those at most ``window`` positions away."""
        near = self.counted > 0
        if window > 0:
            near &= np.abs(self.counted - position) <= window
        return [self.items[k] for k in np.flatnonzero(near) if self.items[k] != but]

    def next_position(self) -> int:
        return int(self.counted.max(initial=0)) + 1

    def counted_ratings(self, items: list[str]) -> np.ndarray:
        return np.array([self.ratings[self.position[i]] for i in items], dtype=np.float64)

    def rated(self) -> set[str]:
        return {self.items[k] for k in np.flatnonzero(~np.isnan(self.ratings))}

    def recent(self, m: int) -> list[tuple[str, float]]:
        """The ``m`` most recently (re)rated items, newest first, with their ratings."""
        live = np.flatnonzero(~np.isnan(self.ratings))
        newest = live[np.argsort(-self.offsets[live], kind="stable")[:m]]
        return [(self.items[k], float(self.ratings[k])) for k in newest]

    def packed(self, item: str) -> bytes:
        k = self.position[item]
        row = (self.ratings[k], self.offsets[k], self.counted[k])
        return np.array([row], dtype=HISTORY_DTYPE).tobytes()


@dataclass
class CooccurrenceDeltas:
    """Changes of one batch: Δc per (item, partner) from that item's side, and Δn."""

    pairs: dict[str, dict[str, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    counted_offsets: list[int] = field(default_factory=list)  # the batch's decisions
    sums: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # with_sums only
    rating_sums: dict[str, float] = field(default_factory=dict)  # Δ Σ counted ratings

    def _sums(self, item: str, partners: list[str], rows: np.ndarray) -> None:
        mine = self.sums.setdefault(item, {})
        for partner, row in zip(partners, rows, strict=True):
            mine[partner] = mine.get(partner, np.zeros(WIDTH)) + row
            theirs = self.sums.setdefault(partner, {})
            theirs[item] = theirs.get(item, np.zeros(WIDTH)) + swap_sides(row)

    def _rating_sum(self, item: str, delta: float) -> None:
        self.rating_sums[item] = self.rating_sums.get(item, 0.0) + delta

    def _pair(self, item: str, partner: str, delta: int) -> None:
        row = self.pairs.setdefault(item, {})
        value = row.get(partner, 0) + delta
        if value:
            row[partner] = value
        else:
            row.pop(partner, None)

    def _count(self, item: str, delta: int) -> None:
        self.counts[item] = self.counts.get(item, 0) + delta


def expand_user_events(
    history: UserHistory,
    events: list[tuple[str, float | None, int]],
    out: CooccurrenceDeltas,
    counts: dict[str, int],
    kmax: int = 0,
    fmax: int = 0,
    decided: Callable[[int], bool] | None = None,
    with_sums: bool = False,
    window: int = 0,
) -> None:
    """Apply ``(item, new rating or None, source offset)`` events of one user, in order.

    ``counts`` holds n(i) for the events' items as known before the batch and is updated
    as interactions are counted. ``kmax``/``fmax`` of 0 mean no cap. ``decided``, when a
    half-applied batch is redone, answers from the first attempt's recorded decisions
    whether an event counts (n(i) may have moved meanwhile). ``window`` 0 pairs every
    counted item (the module's docstring)."""
    for item, new, offset in events:
        k = history._slot(item)
        # one sequence: a user's events are all in one ratings partition, as long as its
        # count stays the one the state was built with (streams.topics.check_partition_layout)
        if offset <= history.offsets[k]:
            continue  # a replayed duplicate of something already applied
        old = history.rating(item)
        history.offsets[k], history.ratings[k] = offset, np.nan if new is None else new
        history.changed.add(item)
        if old is not None and history.counted[k]:
            partners = history.partners(int(history.counted[k]), window, but=item)
            if new is None:  # a counted interaction is retracted: every pair it formed
                history.counted[k] = 0
                for partner in partners:
                    out._pair(item, partner, -1)
                    out._pair(partner, item, -1)
                out._count(item, -1)
                counts[item] = counts.get(item, 0) - 1
            if with_sums and old != new:
                out._rating_sum(item, (new or 0.0) - old)
                rows = pair_deltas(old, new, history.counted_ratings(partners))
                out._sums(item, partners, rows)
        elif new is not None and old is None:
            if decided is not None:
                counts_it = decided(offset)
            else:
                room = kmax <= 0 or int(np.count_nonzero(history.counted)) < kmax
                counts_it = room and (fmax <= 0 or counts.get(item, 0) < fmax)
            if not counts_it:
                continue
            position = history.next_position()
            partners = history.partners(position, window)
            for partner in partners:
                out._pair(item, partner, 1)
                out._pair(partner, item, 1)
            if with_sums:
                out._rating_sum(item, new)
                out._sums(item, partners, pair_deltas(None, new, history.counted_ratings(partners)))
            history.counted[k] = position
            out._count(item, 1)
            out.counted_offsets.append(offset)
            counts[item] = counts.get(item, 0) + 1
