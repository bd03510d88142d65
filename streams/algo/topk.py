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


BLOCK_CELLS = 500_000  # scores a caller of ``top_k_rows`` holds at once (4 MB of float64):
# a larger temporary is a fresh mapping each time, and its page faults cost more than the
# matrix product that fills it


def top_k_rows(scores: np.ndarray, size: int, above: float | None = 0.0) -> list[np.ndarray]:
    """``top_k`` of every row of ``scores`` at once, for columns whose ids are in sorted
    order (ties by column, then), in a few C passes over the matrix and no Python per row.

    A bound first: the rows are cut into ``4 x size`` blocks and each block's maximum
    taken; the ``size``-th largest of those maxima is reached by at least ``size``
    elements (one per block), so the ``size`` best, and everything tied with them, are
    at or above it. Only the few elements at or above the bound are then sorted (one
    ``lexsort`` by row, score and column), so a row costs a max, a comparison and a
    scan of its width, not a partition of it."""
    scores = np.asarray(scores, dtype=np.float64)
    rows, width = scores.shape
    if size <= 0 or not rows or not width:
        return [np.zeros(0, dtype=np.int64) for _r in range(rows)]
    # "> above" is ">= the next float up", so one comparison keeps both conditions
    floor = -np.inf if above is None else float(np.nextafter(above, np.inf))
    lower = np.full(rows, floor)
    blocks = 4 * size
    if width >= 2 * blocks:
        starts = np.linspace(0, width, blocks, endpoint=False).astype(np.int64)
        maxima = np.maximum.reduceat(scores, starts, axis=1)
        np.maximum(lower, np.partition(maxima, blocks - size, axis=1)[:, blocks - size], out=lower)
    flat = np.flatnonzero(scores >= lower[:, None])
    at_row, at_col = np.divmod(flat, width)
    order = np.lexsort((at_col, -scores.ravel()[flat], at_row))
    at_row, at_col = at_row[order], at_col[order]
    starts = np.searchsorted(at_row, np.arange(rows + 1))
    return [at_col[starts[r] : min(starts[r + 1], starts[r] + size)] for r in range(rows)]
