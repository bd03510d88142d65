"""What the fault tests replay: a small synthetic stream in ``make test`` (each fault in
seconds), the whole of MovieLens-100K under ``make test-faults`` (``STREAMREC_FAULTS=full``),
where the same faults land inside a replay of the real data set."""

from __future__ import annotations

import os
from pathlib import Path

from streams.datasets import movielens
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.schemas.ratings import RatingEvent

FULL = os.environ.get("STREAMREC_FAULTS", "") == "full"
IDLE_S = 1_200 if FULL else 240  # how long a wait for the worker to drain may take


def fault_events(small: SyntheticSpec, cache_dir: str) -> list[RatingEvent]:
    if FULL:
        folder = movielens.ensure_ml100k(Path(cache_dir).expanduser() / "datasets")
        return movielens.load_ratings(folder)
    return list(generate(small))


def thirds(events: list[RatingEvent]) -> tuple[int, int]:
    """Where a fault test's three parts meet."""
    return len(events) // 3, 2 * len(events) // 3
