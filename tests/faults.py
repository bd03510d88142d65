"""What the fault tests replay: a small synthetic stream in ``make test`` (each fault in
seconds), the whole of MovieLens-100K under ``make test-faults`` (``STREAMREC_FAULTS=full``),
where the same faults land inside a replay of the real data set."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from streams.datasets import movielens
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.schemas.ratings import RatingEvent
from streams.stack.faultproxy import FaultProxy

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


def opened_since(proxy: FaultProxy, before: int, timeout: float = 30) -> None:
    """The client reconnected after a fault (a connection was opened since ``before``)."""
    deadline = time.monotonic() + timeout
    while proxy.connections <= before:
        assert time.monotonic() < deadline, "the client never reconnected"
        time.sleep(0.05)


def latency_then_resets(proxy: FaultProxy, produce: Callable[[], None], pause_s: float) -> None:
    """20 ms per chunk each way while ``produce`` runs and 3 s after, then every connection
    reset five times under load, each followed by a reconnection; each fault is shown to
    have landed by the proxy's counts."""
    proxy.set_latency(0.02)
    produce()
    time.sleep(3)
    proxy.set_latency(0.0)
    assert proxy.delayed > 0
    for _ in range(5):
        before, aborted = proxy.connections, proxy.aborted
        proxy.reset()
        assert proxy.aborted > aborted
        opened_since(proxy, before)
        time.sleep(pause_s)
