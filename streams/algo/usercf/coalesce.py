"""Pair deltas coalesced over a whole batch: one row per (user, partner) however many
by-item partitions (portions) the batch's co-ratings came from.

Per portion, a user's pair with a partner gets one row from each partition whose items
they co-rated in the batch; over the whole batch it gets one. The store applies the
whole-batch rows when every portion of the user is new to it, and falls back to the
per-portion rows (``coalesce([portion])``) only for a user one of whose portions was
applied before (a partition being redone after a crash).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streams.algo.usercf.expansion import BatchDeltas
from streams.algo.usercf.pearson import WIDTH

Coalesced = dict[str, tuple[list[str], np.ndarray]]


def coalesce(parts: Sequence[BatchDeltas]) -> Coalesced:
    """{user: (partners, (k, 6) summed deltas from that user's side)} over ``parts``."""
    names: dict[str, int] = {}
    dest, partner, rows = [], [], []
    for d in parts:
        if not d._rows:
            continue
        remap = np.fromiter(
            (names.setdefault(n, len(names)) for n in d.names), np.int64, len(d.names)
        )
        dest.append(remap[np.concatenate(d._dest)])
        partner.append(remap[np.concatenate(d._partner)])
        rows.append(np.concatenate(d._rows))
    if not rows:
        return {}
    listed = list(names)
    key = np.concatenate(dest) * len(listed) + np.concatenate(partner)
    order = np.argsort(key, kind="stable")  # each pair's rows together, in batch order
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sums = np.add.reduceat(np.concatenate(rows)[order], starts, axis=0).reshape(-1, WIDTH)
    dest_u, partner_u = np.divmod(key[starts], len(listed))
    unique = starts
    out: Coalesced = {}
    bounds = np.flatnonzero(np.diff(dest_u)) + 1
    for chunk in np.split(np.arange(len(unique)), bounds):
        if len(chunk):
            user = listed[int(dest_u[chunk[0]])]
            out[user] = ([listed[int(p)] for p in partner_u[chunk]], sums[chunk])
    return out
