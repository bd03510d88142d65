"""Ids ↔ dense ints for one process (never stored): lets rows, ratings and counts be numpy
arrays indexed by item, where a dict per entry would be the cost."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

import numpy as np

Id = TypeVar("Id", bound=Hashable)


class LocalIds(Generic[Id]):
    """Each id gets the next int the first time it is seen, and keeps it."""

    def __init__(self) -> None:
        self.ids: dict[Id, int] = {}
        self.names: list[Id] = []

    def index(self, names: Iterable[Id]) -> np.ndarray:
        ids, listed = self.ids, self.names
        out = []
        for name in names:
            k = ids.get(name)
            if k is None:
                k = ids[name] = len(listed)
                listed.append(name)
            out.append(k)
        return np.array(out, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.names)
