"""Test, then learn: each event is first scored against every model, then learned.

Rating error (RMSE, MAE) on every rating a model can predict; top-N metrics on every
positive (rating >= ``positive``) of an item the user has not rated before: hit rate@N
(= recall@N, one held-out item per test), NDCG@N; catalogue coverage of what was served.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.evaluation.models import Ratings, Recommender
from streams.schemas.ratings import RatingEvent


@dataclass
class Running:
    """Metrics of one model over the whole stream and over the last ``window`` tests."""

    window: int
    predictions: int = 0
    squared: float = 0.0
    absolute: float = 0.0
    tests: int = 0
    hits: int = 0
    ndcg: float = 0.0
    served: set[str] = field(default_factory=set)
    recent_errors: deque[float] = field(default_factory=deque)
    recent_hits: deque[float] = field(default_factory=deque)

    def error(self, predicted: float, actual: float) -> None:
        e = predicted - actual
        self.predictions += 1
        self.squared += e * e
        self.absolute += abs(e)
        self._push(self.recent_errors, e * e)

    def ranked(self, items: list[str], target: str) -> None:
        self.tests += 1
        self.served.update(items)
        hit = target in items
        self.hits += hit
        if hit:
            self.ndcg += 1.0 / math.log2(items.index(target) + 2)
        self._push(self.recent_hits, float(hit))

    def _push(self, queue: deque[float], value: float) -> None:
        queue.append(value)
        if len(queue) > self.window:
            queue.popleft()

    def summary(self, catalogue: int) -> dict[str, float | None]:
        p, t = self.predictions, self.tests
        return {
            "rmse": math.sqrt(self.squared / p) if p else None,
            "mae": self.absolute / p if p else None,
            "hit_rate": self.hits / t if t else None,
            "ndcg": self.ndcg / t if t else None,
            "coverage": len(self.served) / catalogue if catalogue and t else None,
            "predictions": p,
            "tests": t,
        }

    def windowed(self) -> dict[str, float | None]:
        e, h = self.recent_errors, self.recent_hits
        return {
            "rmse": math.sqrt(sum(e) / len(e)) if e else None,
            "hit_rate": sum(h) / len(h) if h else None,
        }


@dataclass
class Outcome:
    events: int
    summary: dict[str, dict[str, float | None]]
    series: list[dict[str, Any]]  # one row per checkpoint: position, per model windowed
    held_out: dict[str, dict[str, float | None]]  # only events after ``tuning_events``


def prequential(
    events: Iterable[RatingEvent],
    models: list[Recommender],
    ratings: Ratings,
    n: int = 10,
    positive: float = 4.0,
    window: int = 5000,
    checkpoint_every: int = 2000,
    on_checkpoint: Callable[[int, dict[str, Running]], None] | None = None,
    tuning_events: int = 0,
) -> Outcome:
    """Run the protocol. ``held_out`` repeats the summary for the events after the first
    ``tuning_events`` (the part on which defaults were chosen is left out of it)."""
    running = {m.name: Running(window) for m in models}
    later = {m.name: Running(window) for m in models}
    series: list[dict[str, Any]] = []
    catalogue: set[str] = set()
    count = 0
    for offset, event in enumerate(events):
        user, item, rating = event.user_id, event.item_id, event.rating
        catalogue.add(item)
        if rating is not None:
            new = item not in ratings.by_user.get(user, {})
            for model in models:
                runs = [running[model.name]]
                if offset >= tuning_events:
                    runs.append(later[model.name])
                predicted = model.predict(user, item)
                if predicted is not None:
                    for run in runs:
                        run.error(predicted, rating)
                if new and rating >= positive and model.ranks:
                    served = model.recommend(user, n)
                    catalogue.update(served)  # content and embeddings serve unrated items
                    for run in runs:
                        run.ranked(served, item)
        ratings.learn(user, item, rating)
        for model in models:
            model.learn(user, item, rating, offset, event.ts)
        count = offset + 1
        if count % checkpoint_every == 0:
            row: dict[str, Any] = {"events": count}
            for name, run in running.items():
                row[name] = run.windowed()
            series.append(row)
            if on_checkpoint is not None:
                on_checkpoint(count, running)
    summary = {name: run.summary(len(catalogue)) for name, run in running.items()}
    held_out = {name: run.summary(len(catalogue)) for name, run in later.items()}
    return Outcome(count, summary, series, held_out)
