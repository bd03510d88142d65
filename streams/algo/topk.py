"""The one top-k-with-ties helper every ranked list uses: pure and vectorised."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def top_k(
    ids: Sequence[Any] | np.ndarray, scores: np.ndarray, size: int, above: float | None = 0.0
) -> np.ndarray:
    """Positions of the ``size`` best ``scores`` (only those > ``above``, unless None),
    best first, ties by id (str, or bytes in byte order).

    Everything tied with the size-th best is kept by a partition, the few left are
    ordered by score, and only runs of equal scores are then ordered by id (one
    ``lexsort`` over them): an id is looked up only when it is tied."""
    scores = np.asarray(scores, dtype=np.float64)
    candidates = np.flatnonzero(scores > above) if above is not None else np.arange(len(scores))
    if size <= 0 or not len(candidates):
        return candidates[:0]
    if len(candidates) > size:
        cut = np.partition(scores[candidates], len(candidates) - size)[len(candidates) - size]
        candidates = candidates[scores[candidates] >= cut]
    negated = -scores[candidates]
    order = np.argsort(negated, kind="stable")
    candidates, negated = candidates[order], negated[order]
    equal = negated[1:] == negated[:-1]
    if equal.any():
        tied = np.zeros(len(candidates), dtype=bool)
        tied[:-1] |= equal
        tied[1:] |= equal
        at = candidates[tied]
        keys = ids[at] if isinstance(ids, np.ndarray) else np.array([ids[k] for k in at.tolist()])
        candidates[tied] = at[np.lexsort((keys, negated[tied]))]
    return candidates[:size]
