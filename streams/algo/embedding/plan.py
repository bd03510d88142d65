"""A batch of rating events turned into the embedding's writes, without I/O.

The worker reads the rows a batch touches, runs :func:`learn_event` over the events in
offset order on local copies, and records the outcome as a :class:`PortionPlan`: each
item row's delta (items are shared by every partition, so their updates are additive),
the network's delta, the running mean's delta, and each user's new row and changed
ratings (a user belongs to one partition, so their row is simply replaced). The plan is
stored before anything is written; a redo after a crash applies the same plan, and
per-partition fences make every part of it land exactly once.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from streams.algo.embedding import EmbeddingConfig
from streams.algo.embedding.model import Network, initial_row, step


def learn_event(
    mean: np.ndarray,
    user_row: np.ndarray,
    rated: dict[str, float],
    item: str,
    item_row: np.ndarray,
    x: np.ndarray | None,
    rating: float | None,
    config: EmbeddingConfig,
    network: Network | None,
) -> None:
    """One event in place: retract the user's previous rating of ``item`` (if any), then
    learn the new one (``None`` = a retraction only). ``mean`` = [count, sum] of all
    current ratings, exact: μ before each step is the mean without the rating at hand."""
    old = rated.pop(item, None)
    if old is not None:
        mean[0] -= 1
        mean[1] -= old
        if mean[0] > 0:
            mu = mean[1] / mean[0]
            step(mu, user_row, item_row, old, config, network, x, sign=-1.0)
    if rating is not None:
        mu = mean[1] / mean[0] if mean[0] > 0 else rating
        step(mu, user_row, item_row, rating, config, network, x)
        mean[0] += 1
        mean[1] += rating
        rated[item] = rating


@dataclass
class UserView:
    row: np.ndarray
    rated: dict[str, float]
    fence: int = -1  # last offset of this partition applied to the user


@dataclass
class ModelView:
    """The shared part as the batch sees it: items' rows, the network, the mean."""

    items: dict[str, np.ndarray]
    network: Network | None
    mean: np.ndarray = field(default_factory=lambda: np.zeros(2))


@dataclass
class PortionPlan:
    partition: int
    end: int
    item_ids: list[str]
    deltas: np.ndarray  # (items, factors + 1)
    bases: np.ndarray  # the rows the deltas start from when an item has none yet
    network_delta: np.ndarray  # empty for plain MF
    network_base: np.ndarray
    mean_delta: np.ndarray  # [Δcount, Δsum]
    users: dict[str, tuple[np.ndarray, dict[str, float | None]]]  # row, rating changes

    def encode(self) -> bytes:
        def b(a: np.ndarray) -> str:
            return base64.b64encode(np.ascontiguousarray(a, "<f8").tobytes()).decode()

        return json.dumps(
            {
                "p": self.partition,
                "end": self.end,
                "items": self.item_ids,
                "d": b(self.deltas),
                "b": b(self.bases),
                "nd": b(self.network_delta),
                "nb": b(self.network_base),
                "m": b(self.mean_delta),
                "u": {u: [b(row), ch] for u, (row, ch) in self.users.items()},
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | str, width: int) -> PortionPlan:
        data = json.loads(raw)

        def a(text: str) -> np.ndarray:
            return np.frombuffer(base64.b64decode(text), dtype="<f8").copy()

        return cls(
            data["p"],
            data["end"],
            data["items"],
            a(data["d"]).reshape(-1, width),
            a(data["b"]).reshape(-1, width),
            a(data["nd"]),
            a(data["nb"]),
            a(data["m"]),
            {u: (a(row), changes) for u, (row, changes) in data["u"].items()},
        )


def plan_portion(
    partition: int,
    end: int,
    events: list[tuple[str, str, float | None, int]],
    model: ModelView,
    users: Mapping[str, UserView],
    features: Callable[[str], np.ndarray | None],
    config: EmbeddingConfig,
) -> PortionPlan:
    """Learn ``events`` (user, item, rating, offset) on ``model`` and ``users`` in place;
    events at or below a user's fence were applied before a crash and are skipped."""
    neural = model.network is not None
    before: dict[str, np.ndarray] = {}
    network_base = model.network.flat.copy() if model.network is not None else np.zeros(0)
    mean_base = model.mean.copy()
    changes: dict[str, dict[str, float | None]] = {}
    for user, item, rating, offset in events:
        view = users[user]
        if offset <= view.fence:
            continue
        row = model.items.get(item)
        if row is None:
            row = model.items[item] = initial_row("i", item, config, neural)
        if item not in before:
            before[item] = row.copy()
        learn_event(
            model.mean,
            view.row,
            view.rated,
            item,
            row,
            features(item),
            rating,
            config,
            model.network,
        )
        changes.setdefault(user, {})[item] = view.rated.get(item)
    ids = sorted(before)
    width = config.factors + 1
    bases = np.array([before[i] for i in ids]).reshape(-1, width)
    deltas = np.array([model.items[i] for i in ids]).reshape(-1, width) - bases
    network_delta = model.network.flat - network_base if model.network is not None else np.zeros(0)
    return PortionPlan(
        partition,
        end,
        ids,
        deltas,
        bases,
        network_delta,
        network_base,
        model.mean - mean_base,
        {u: (users[u].row.copy(), ch) for u, ch in changes.items()},
    )
