"""What the tuning commands share: candidates read off one learned model, and the
tuning part's figures recovered from the whole stream's and the held-out part's."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from streams.datasets import movielens
from streams.evaluation.prequential import prequential
from streams.schemas.ratings import RatingEvent
from streams.settings import WorkerSettings


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


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every tuning command takes."""
    out = argparse.ArgumentParser(description=doc)
    out.add_argument("--tuning-events", type=int, default=50_000)
    out.add_argument("--limit", type=int, default=0, help="only the first N events")
    out.add_argument("--out", default="bench/results")
    return out


def ml100k(limit: int) -> tuple[WorkerSettings, list[RatingEvent]]:
    """The settings as configured and ML-100K's events (the first ``limit``, 0 = all)."""
    settings = WorkerSettings()
    folder = movielens.ensure_ml100k(Path(settings.cache_dir).expanduser() / "datasets")
    events = movielens.load_ratings(folder)
    return settings, events[:limit] if limit else events


def run(
    kind: str,
    events: list[RatingEvent],
    candidates: list[Candidate],
    ratings: Any,
    args: argparse.Namespace,
    measure: str,
    higher_is_better: bool,
) -> None:
    """Run the candidates over the stream; print the tuning and held-out figures of
    each and the one ``measure`` chooses on the tuning part; write them as JSON."""
    started = time.perf_counter()
    outcome = prequential(events, candidates, ratings, tuning_events=args.tuning_events)
    seconds = time.perf_counter() - started
    rows = []
    for c in candidates:
        whole, held = outcome.summary[c.name], outcome.held_out[c.name]
        rows.append({"candidate": c.name, "tuning": tuning_part(whole, held), "held_out": held})
    pick = max if higher_is_better else min
    best = pick(rows, key=lambda r: r["tuning"][measure])
    print(f"{len(events)} events, {len(candidates)} candidates, {seconds:.0f} s")
    columns = ("rmse", "hit_rate", "ndcg")
    head = " ".join(f"{part + ' ' + name:>16}" for part in ("tuning", "held") for name in columns)
    print(f"{'candidate':<32} {head}")
    for r in rows:
        cells = [r[part][name] or 0.0 for part in ("tuning", "held_out") for name in columns]
        print(f"{r['candidate']:<32} " + " ".join(f"{x:>16.4f}" for x in cells))
    print(f"chosen on the tuning part ({measure}): {best['candidate']}")
    out = Path(args.out) / time.strftime(f"tune-{kind}-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"events": len(events), "rows": rows, "chosen": best}, indent=2))
    print(f"wrote {out}")
