"""Choose the user-based path's significance settings on the tuning part of ML-100K and
report every candidate on the held-out part too (the same prequential protocol as
``streamrec eval``: test, then learn, one event at a time).

    .venv/bin/python -m bench.tune_usercf [--tuning-events 50000] [--limit 0] [--baseline]

Each candidate (min support, shrinkage λ of sim·n/(n+λ); with ``--baseline`` the item
and user dampings of the baseline μ + b_u + b_i at the configured significance, and the
users' means instead) is its own user-based model over the same stream. The one with
the lowest RMSE on the tuning part is printed as the choice; the held-out figures are
there to report, never to choose.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time
from pathlib import Path
from typing import Any

from bench.tuning import Candidate, tuning_part
from streams.datasets import movielens
from streams.evaluation import models
from streams.evaluation.prequential import prequential
from streams.settings import WorkerSettings

SUPPORTS = (1, 2, 3, 5)
SHRINKAGES = (0.0, 10.0, 25.0, 50.0, 100.0)
DAMPINGS = ((5.0, 5.0), (10.0, 5.0), (15.0, 5.0), (10.0, 2.0), (10.0, 10.0), (25.0, 10.0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tuning-events", type=int, default=50_000)
    parser.add_argument("--limit", type=int, default=0, help="only the first N events")
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--no-lists", action="store_true", help="rating error only (faster)")
    parser.add_argument("--baseline", action="store_true", help="the baseline's dampings")
    args = parser.parse_args()
    settings = WorkerSettings()
    folder = movielens.ensure_ml100k(Path(settings.cache_dir).expanduser() / "datasets")
    events = movielens.load_ratings(folder)
    events = events[: args.limit] if args.limit else events
    ratings = models.Ratings()
    base = models.UserKNN(settings.user_cf, ratings)
    base.ranks = not args.no_lists
    candidates = []
    for name, config in _settings(settings.user_cf, args.baseline):
        candidates.append(Candidate(name, base, config, learns=not candidates))
    started = time.perf_counter()
    outcome = prequential(events, candidates, ratings, tuning_events=args.tuning_events)
    seconds = time.perf_counter() - started
    rows = []
    for c in candidates:
        whole, held = outcome.summary[c.name], outcome.held_out[c.name]
        early = tuning_part(whole, held)
        rows.append({"candidate": c.name, "tuning": early, "held_out": held})
    best = min(rows, key=lambda r: r["tuning"]["rmse"])
    print(f"{len(events)} events, {len(candidates)} candidates, {seconds:.0f} s")
    print(f"{'candidate':<32} {'tuning RMSE':>11} {'hit@10':>7} {'held RMSE':>10} {'hit@10':>7}")
    for r in rows:
        t, h = r["tuning"], r["held_out"]
        print(
            f"{r['candidate']:<32} {t['rmse']:>11.4f} {t['hit_rate']:>7.4f} "
            f"{h['rmse']:>10.4f} {h['hit_rate'] or 0:>7.4f}"
        )
    print(f"chosen on the tuning part: {best['candidate']}")
    out = Path(args.out) / time.strftime("tune-usercf-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"events": len(events), "rows": rows, "chosen": best}, indent=2))
    print(f"wrote {out}")


def _settings(config: Any, baseline: bool) -> list[tuple[str, Any]]:
    """(name, configuration) of every candidate."""
    if baseline:
        out = [("means", dataclasses.replace(config, baseline=False))]
        for item, user in DAMPINGS:
            damped = dataclasses.replace(config, item_damping=item, user_damping=user)
            out.append((f"baseline item={item:g},user={user:g}", damped))
        return out
    return [
        (
            f"support={support},shrinkage={shrink:g}",
            dataclasses.replace(config, min_support=support, shrinkage=shrink),
        )
        for support, shrink in itertools.product(SUPPORTS, SHRINKAGES)
    ]


if __name__ == "__main__":
    main()
