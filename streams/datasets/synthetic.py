"""A reproducible synthetic rating stream of any size, for scale tests and benchmarks.

Item popularity and user activity are Zipf-skewed (a few blockbusters and heavy users, a
long tail of both), ratings are 1-5 from a global mean plus user and item biases plus
noise, and a configurable share of events re-rate or delete an earlier (user, item).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from streams.schemas.ratings import RatingEvent


@dataclass(frozen=True)
class SyntheticSpec:
    events: int = 100_000
    users: int = 5_000
    items: int = 2_000
    seed: int = 42
    zipf_items: float = 1.0
    zipf_users: float = 0.8
    rerate_share: float = 0.05
    delete_share: float = 0.01
    start_ts: float = 1_700_000_000.0

    def __post_init__(self) -> None:
        if min(self.events, self.users, self.items) < 1:
            raise ValueError("events, users and items must be positive")
        if not 0 <= self.rerate_share + self.delete_share < 1:
            raise ValueError("rerate_share + delete_share must be in [0, 1)")


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.permutation(weights / weights.sum())


def generate(spec: SyntheticSpec, chunk: int = 50_000) -> Iterator[RatingEvent]:
    """Yield ``spec.events`` events in timestamp order; the same spec gives the same stream."""
    rng = np.random.default_rng(spec.seed)
    user_p = _zipf_weights(spec.users, spec.zipf_users, rng)
    item_p = _zipf_weights(spec.items, spec.zipf_items, rng)
    user_bias = rng.normal(0.0, 0.45, spec.users)
    item_bias = rng.normal(0.0, 0.55, spec.items)
    seen_users = np.empty(spec.events, dtype=np.int64)
    seen_items = np.empty(spec.events, dtype=np.int64)
    produced = 0
    ts = spec.start_ts
    while produced < spec.events:
        n = min(chunk, spec.events - produced)
        users = rng.choice(spec.users, size=n, p=user_p)
        items = rng.choice(spec.items, size=n, p=item_p)
        kind = rng.random(n)
        noise = rng.normal(0.0, 0.9, n)
        gaps = rng.exponential(1.0, n)
        for k in range(n):
            ts += float(gaps[k])
            u, i = int(users[k]), int(items[k])
            op = "upsert"
            if produced > 0 and kind[k] < spec.rerate_share + spec.delete_share:
                earlier = int(rng.integers(0, produced))
                u, i = int(seen_users[earlier]), int(seen_items[earlier])
                if kind[k] < spec.delete_share:
                    op = "delete"
            seen_users[produced], seen_items[produced] = u, i
            produced += 1
            if op == "delete":
                yield RatingEvent(f"u{u}", f"i{i}", None, ts, "delete")
                continue
            raw = 3.53 + user_bias[u] + item_bias[i] + noise[k]
            yield RatingEvent(f"u{u}", f"i{i}", float(min(5, max(1, round(raw)))), ts)
