"""The worker's copy of the co-occurrence rows it re-scores; Redis stays the store of record.

Re-scoring an item's similar list needs its whole row c(i, ·). Reading every rated item's
row back after every batch (HGETALL of up to ~1,600 fields, parsed in Python) cost more than
the rest of the item-to-item list work. So a row read once is kept here, with the version it
was read at: the item's ``v``, which apply_cooccurrence.lua bumps with every batch it applies
to the item. This worker's own deltas move the copy forward, and only when the script's
reply proves that the batch was the very next one (version + 1, applied). Any other writer
(a second worker, a redo that another owner finished) breaks that chain, and the row is
dropped and read again. A stale copy can make us read once more, never re-score from old
counts.

The copy also spares Redis the arithmetic: an item whose copy is held is moved by one
set_cooccurrence.lua call for the whole batch, carrying the new counts of the partners
the batch touched (``planned_from_copies``), applied only if the row is still at the
copy's version, last batch and length. Redis then writes, where apply_cooccurrence.lua reads,
adds and writes each partner.

Rows are held by dense local ids (``streams.algo.ids.LocalIds``), so a row is two numpy
arrays, and the counts n(j) of a batch's partners land in one dense array.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from streams.algo.ids import LocalIds
from streams.algo.itemcf.cooccurrence import CooccurrenceDeltas


class NamesAt(Sequence[bytes]):
    """The ids of ``positions`` as a sequence, decoded only where asked (top-k asks for
    the few candidates tied at its cut, not for the whole row)."""

    def __init__(self, ids: LocalIds[bytes], positions: np.ndarray) -> None:
        self._names, self._at = ids.names, positions

    def __len__(self) -> int:
        return len(self._at)

    def __getitem__(self, k: int) -> bytes:  # type: ignore[override]
        return self._names[int(self._at[k])]

    def take(self, positions: np.ndarray) -> list[bytes]:
        """The ids at ``positions``, decoded in one pass."""
        names = self._names
        return [names[j] for j in self._at[positions].tolist()]


@dataclass
class Row:
    partners: np.ndarray  # local ids, ascending
    counts: np.ndarray  # c(i, j), int64, never 0
    version: int
    last: str = ""  # the batch last applied to it ("<fence field>:<batch end>", fence ``l``)


def merged(
    partners: np.ndarray, counts: np.ndarray, d_partners: np.ndarray, d_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A sparse row plus a sparse delta (distinct ids), with the zeros dropped: what
    apply_cooccurrence.lua does to the hash, on arrays. Most of a delta's partners are
    in the row already: they are added in place, and only the new ones are inserted."""
    pos = np.searchsorted(partners, d_partners)
    found = pos < len(partners)
    found[found] = partners[pos[found]] == d_partners[found]
    counts = counts.copy()
    counts[pos[found]] += d_counts[found]
    zeros = (counts[pos[found]] == 0).any() or (d_counts[~found] == 0).any()
    if not found.all():
        new = np.flatnonzero(~found)
        new = new[np.argsort(d_partners[new], kind="stable")]  # equal positions: id order
        partners = np.insert(partners, pos[new], d_partners[new])
        counts = np.insert(counts, pos[new], d_counts[new])
    if zeros:  # only the entries the delta touched can be 0
        keep = counts != 0
        partners, counts = partners[keep], counts[keep]
    return partners, counts


class RowCache:
    """Rows by item id, least recently used dropped first past ``max_entries`` entries."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.rows: OrderedDict[str, Row] = OrderedDict()
        self.entries = 0
        self.dropped = 0  # copies another writer made stale

    def get(self, item: str) -> Row | None:
        """The copy of ``item``'s row; only a caller that has just had it proven current
        (``advance``) may trust it."""
        row = self.rows.get(item)
        if row is not None:
            self.rows.move_to_end(item)
        return row

    def put(self, item: str, row: Row) -> None:
        self.drop(item)
        if not self.max_entries or len(row.partners) > self.max_entries:
            return
        self.rows[item] = row
        self.entries += len(row.partners)
        while self.entries > self.max_entries:
            _item, old = self.rows.popitem(last=False)
            self.entries -= len(old.partners)

    def drop(self, item: str) -> None:
        old = self.rows.pop(item, None)
        if old is not None:
            self.entries -= len(old.partners)

    def advance(
        self,
        item: str,
        d_partners: np.ndarray,
        d_counts: np.ndarray,
        version: int,
        applied: bool,
        last: str = "",
    ) -> bool:
        """One apply_cooccurrence.lua reply for ``item`` (its version after the call and
        whether this call applied the delta, ``last`` the batch it carried): move the copy
        forward if the reply proves it was the very next batch, keep it if nothing was
        applied and nothing else was, else drop it. True if a copy is kept: it equals
        the row at the reply."""
        row = self.rows.get(item)
        if row is None:
            return False
        if applied and version == row.version + 1:
            partners, counts = merged(row.partners, row.counts, d_partners, d_counts)
            self.put(item, Row(partners, counts, version, last))
            return item in self.rows
        if applied or version != row.version:
            self.drop(item)
            self.dropped += 1
            return False
        return True


@dataclass
class Planned:
    partners: np.ndarray  # the item's row after the batch, as in ``Row``
    counts: np.ndarray
    args: list[Any]  # set_cooccurrence.lua's ARGV
    last: str  # the batch the script records as applied last


def planned_from_copies(
    ids: LocalIds[bytes], cache: RowCache, parts: list[tuple[str, int, CooccurrenceDeltas]]
) -> dict[str, Planned]:
    """Each item of the batch (``parts``: fence field, batch end, deltas per partition)
    whose row is held: the row after every partition's delta, and the new counts of the
    partners those deltas touched (0: the partner leaves the row).

    Batch-wide arrays, not a merge per item: each (item, partner) is one int64 key
    (held position × ids + partner), so the partitions' deltas are summed by one
    ``unique`` and every held row moved by one sorted insert; per item only slices and
    its two JSON arguments remain (a merge per item was ~10% of a paced worker)."""
    mine: dict[str, list[tuple[str, int, CooccurrenceDeltas]]] = {}
    for part in parts:
        deltas = part[2]
        for item in set(deltas.pairs) | set(deltas.counts):
            mine.setdefault(item, []).append(part)
    held = [item for item in mine if item in cache.rows]
    if not held:
        return {}
    at = {item: k for k, item in enumerate(held)}
    owner: list[int] = []
    names: list[str] = []
    values: list[int] = []
    for _f, _e, deltas in parts:
        for item, row in deltas.pairs.items():
            k = at.get(item)
            if k is not None:
                owner += [k] * len(row)
                names += row
                values += row.values()
    width = np.int64(len(ids) + len(names))  # past every id, new ones included
    codes = ids.index(j.encode() for j in names)
    keys, first, inverse = np.unique(
        np.array(owner, np.int64) * width + codes, return_index=True, return_inverse=True
    )
    delta = np.bincount(inverse, weights=values, minlength=len(keys)).astype(np.int64)
    bases = [cache.rows[item] for item in held]
    sizes = [len(b.partners) for b in bases]
    base_keys = np.repeat(np.arange(len(held), dtype=np.int64) * width, sizes)
    base_keys += np.concatenate([b.partners for b in bases])
    counts = np.concatenate([b.counts for b in bases]).astype(np.int64, copy=False)
    pos = np.searchsorted(base_keys, keys)
    found = pos < len(base_keys)
    found[found] = base_keys[pos[found]] == keys[found]
    after = delta.copy()  # each touched partner's count after the batch (0: gone)
    after[found] += counts[pos[found]]
    counts[pos[found]] = after[found]
    new = ~found & (after != 0)
    rows = np.insert(base_keys, pos[new], keys[new])
    counts = np.insert(counts, pos[new], after[new])
    if (after == 0).any():
        keep = counts != 0
        rows, counts = rows[keep], counts[keep]
    row_at = np.searchsorted(rows, np.arange(len(held) + 1, dtype=np.int64) * width)
    touched_at = np.searchsorted(keys, np.arange(len(held) + 1, dtype=np.int64) * width)
    touched = [names[k] for k in first.tolist()]
    after_text = list(map(str, after.tolist()))
    stays = (after != 0).tolist()
    out: dict[str, Planned] = {}
    for k, (item, base) in enumerate(zip(held, bases, strict=True)):
        own = mine[item]
        a, b = int(touched_at[k]), int(touched_at[k + 1])
        flat: list[str] = []
        gone: list[str] = []
        for j in range(a, b):
            if stays[j]:
                flat += (touched[j], after_text[j])
            else:
                gone.append(touched[j])
        dn = sum(d.counts.get(item, 0) for _f, _e, d in own)
        args: list[Any] = [base.version, base.last, len(base.partners), dn]
        args += [orjson.dumps(flat), orjson.dumps(gone)]
        for field, end, _d in own:
            args += [field, end]
        lo, hi = int(row_at[k]), int(row_at[k + 1])
        partners = rows[lo:hi] - k * width
        last = f"{own[-1][0]}:{own[-1][1]}"
        out[item] = Planned(partners, counts[lo:hi].copy(), args, last)
    return out
