"""How a served list looks to a person, beside whether it hits: how many of its items owe
their place to one "because" item, and how different its items are from each other."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from streams.algo import blend
from streams.algo.content.vectors import Catalogue


def most_per_reason(fused: list[tuple[str, float, list[str]]], reasons: Mapping[str, str]) -> int:
    """The most items of one list that share one "because" item (0: none has a reason)."""
    counts = Counter(b for i, _s, srcs in fused if (b := blend.because(i, srcs, reasons)))
    return max(counts.values(), default=0)


def intra_list_diversity(items: list[str], catalogue: Catalogue) -> float | None:
    """Mean pairwise content distance (1 − cosine of the items' attribute vectors) over
    the items the catalogue knows; None below two such items."""
    rows = [catalogue.index[i] for i in items if i in catalogue.index]
    if len(rows) < 2:
        return None
    v = catalogue.vectors[rows]
    sims = np.asarray(v @ v.T)
    upper = np.triu_indices(len(rows), k=1)
    return float(np.mean(1.0 - sims[upper]))


@dataclass
class ListQuality:
    """Per served list: (position in the stream, most items per reason, diversity)."""

    tuning_events: int = 0
    rows: list[tuple[int, int, float | None]] = field(default_factory=list)

    def add(self, position: int, shared: int, diversity: float | None) -> None:
        self.rows.append((position, shared, diversity))

    def summary(self, held_out: bool = False) -> dict[str, float | None]:
        rows = [r for r in self.rows if not held_out or r[0] >= self.tuning_events]
        shared = [s for _p, s, _d in rows]
        spread = [d for _p, _s, d in rows if d is not None]
        return {
            "lists": float(len(rows)),
            "most_per_reason_median": statistics.median(shared) if shared else None,
            "most_per_reason_p90": float(np.percentile(shared, 90)) if shared else None,
            "intra_list_diversity": statistics.fmean(spread) if spread else None,
        }
