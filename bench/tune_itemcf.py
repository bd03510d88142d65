"""Choose which of a user's recent items score their item-to-item list, and how fast
their weight decays, on the tuning part of ML-100K; report every candidate on the
held-out part too (the prequential protocol of ``streamrec eval``).

    .venv/bin/python -m bench.tune_itemcf [--tuning-events 50000] [--limit 0]

The co-occurrence counts and similar lists do not depend on these settings (they apply
where a user's list is scored), so one model learns and every candidate ranks from it.
The candidate with the highest hit rate@10 on the tuning part is printed as the choice;
the held-out figures are there to report, never to choose.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time
from pathlib import Path

from bench.tuning import Candidate, tuning_part
from streams.datasets import movielens
from streams.evaluation import models
from streams.evaluation.prequential import prequential
from streams.settings import WorkerSettings

RECENT = (5, 10, 20, 40)
DECAYS = (0.8, 0.9, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tuning-events", type=int, default=50_000)
    parser.add_argument("--limit", type=int, default=0, help="only the first N events")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    settings = WorkerSettings()
    folder = movielens.ensure_ml100k(Path(settings.cache_dir).expanduser() / "datasets")
    events = movielens.load_ratings(folder)
    events = events[: args.limit] if args.limit else events
    ratings = models.Ratings()
    base = models.ItemCF(settings.item_cf)
    candidates = []
    for recent, decay in itertools.product(RECENT, DECAYS):
        config = dataclasses.replace(settings.item_cf, recent=recent, decay=decay)
        name = f"recent={recent},decay={decay:g}"
        candidates.append(Candidate(name, base, config, learns=not candidates))
    started = time.perf_counter()
    outcome = prequential(events, candidates, ratings, tuning_events=args.tuning_events)
    seconds = time.perf_counter() - started
    rows = []
    for c in candidates:
        whole, held = outcome.summary[c.name], outcome.held_out[c.name]
        rows.append({"candidate": c.name, "tuning": tuning_part(whole, held), "held_out": held})
    best = max(rows, key=lambda r: r["tuning"]["hit_rate"])
    print(f"{len(events)} events, {len(candidates)} candidates, {seconds:.0f} s")
    print(f"{'candidate':<24} {'tuning hit@10':>13} {'NDCG':>7} {'held hit@10':>11} {'NDCG':>7}")
    for r in rows:
        t, h = r["tuning"], r["held_out"]
        print(
            f"{r['candidate']:<24} {t['hit_rate']:>13.4f} {t['ndcg']:>7.4f} "
            f"{h['hit_rate'] or 0:>11.4f} {h['ndcg'] or 0:>7.4f}"
        )
    print(f"chosen on the tuning part: {best['candidate']}")
    out = Path(args.out) / time.strftime("tune-itemcf-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"events": len(events), "rows": rows, "chosen": best}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
