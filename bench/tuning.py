"""What the tuning commands share: candidates read off one learned model, and the
tuning part's figures recovered from the whole stream's and the held-out part's."""

from __future__ import annotations

from typing import Any


class Candidate:
    """One setting read off a shared model: the settings tuned apply where the learned
    state is read (significance, baseline, which recent items score), so one model learns
    and every candidate predicts and ranks from it under its own name and configuration."""

    def __init__(self, name: str, base: Any, config: Any, learns: bool) -> None:
        self.name, self.base, self.config, self.learns = name, base, config, learns
        self.ranks = base.ranks

    def _as_me(self) -> Any:
        self.base.config = self.config
        if hasattr(self.base, "_memo"):  # a memo of another candidate's ranking
            self.base._memo = None
        return self.base

    def predict(self, user: str, item: str) -> float | None:
        return self._as_me().predict(user, item)  # type: ignore[no-any-return]

    def recommend(self, user: str, n: int) -> list[str]:
        return self._as_me().recommend(user, n)  # type: ignore[no-any-return]

    def learn(self, user: str, item: str, rating: float | None, offset: int, ts: float) -> None:
        if self.learns:
            self.base.learn(user, item, rating, offset, ts)


def tuning_part(whole: dict[str, Any], held: dict[str, Any]) -> dict[str, float]:
    """The tuning part's figures from the whole stream's and the held-out part's sums."""
    p, q = whole["predictions"] - held["predictions"], whole["tests"] - held["tests"]
    squared = (whole["rmse"] or 0) ** 2 * whole["predictions"] - (held["rmse"] or 0) ** 2 * held[
        "predictions"
    ]
    hits = (whole["hit_rate"] or 0) * whole["tests"] - (held["hit_rate"] or 0) * held["tests"]
    ndcg = (whole.get("ndcg") or 0) * whole["tests"] - (held.get("ndcg") or 0) * held["tests"]
    return {
        "rmse": (squared / p) ** 0.5 if p else float("nan"),
        "hit_rate": hits / q if q else 0.0,
        "ndcg": ndcg / q if q else 0.0,
    }
