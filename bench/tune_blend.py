"""The served list's diversity cap against its hit rate: every source learns once, and
one blend per cap (``STREAMREC_BLEND__PER_REASON``) fuses the same source lists at each
test, under the prequential protocol of ``streamrec eval``.

    .venv/bin/python -m bench.tune_blend [--caps 0,3,4,5,6] [--limit 0]

Prints, per cap and for the tuning part and the held-out part: hit rate@10, NDCG@10,
the median of the most items sharing one "because" item in a top-10, and the mean
intra-list diversity; writes the figures as JSON and a PNG of hit rate against the cap.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench import tuning
from streams.algo import blend
from streams.commands.evaluate import build, load_catalogue
from streams.evaluation import hybrid
from streams.evaluation.prequential import prequential


class Shared:
    """A source whose lists are computed once per event for every blend that asks."""

    ranks = False

    def __init__(self, source: Any) -> None:
        self.source, self.name = source, f"shared {source.name}"
        self._memo: dict[tuple[str, int], list[Any]] = {}

    def ranked(self, user: str, n: int) -> list[Any]:
        key = (user, n)
        if key not in self._memo:
            self._memo[key] = self.source.ranked(user, n)
        return self._memo[key]

    def predict(self, user: str, item: str) -> float | None:
        return None

    def recommend(self, user: str, n: int) -> list[str]:
        return []

    def learn(self, user: str, item: str, rating: float | None, offset: int, ts: float) -> None:
        self._memo.clear()
        self.source.learn(user, item, rating, offset, ts)


def main() -> None:
    parser = tuning.parser(__doc__)
    parser.add_argument("--caps", default="0,3,4,5,6")
    args = parser.parse_args()
    settings, events = tuning.ml100k(args.limit)
    items = load_catalogue(argparse.Namespace(dataset="ml-100k"), settings)
    chosen, ratings = build(settings, False, items, args.tuning_events)
    served = next(m for m in chosen if isinstance(m, hybrid.Blend))
    shared = {name: Shared(source) for name, source in served.sources.items()}
    caps = [int(c) for c in args.caps.split(",")]
    blends = []
    for cap in caps:
        variant = hybrid.Blend(
            dict(shared),
            {},
            ratings,
            served.weights,
            served.rating_weights,
            served.bounds,
            args.tuning_events,
            per_reason=cap,
            catalogue=served.catalogue,
        )
        variant.name = f"per_reason={cap}"
        blends.append(variant)
    started = time.perf_counter()
    models = [*shared.values(), *blends]
    outcome = prequential(events, models, ratings, tuning_events=args.tuning_events)
    rows = []
    for cap, b in zip(caps, blends, strict=True):
        rows.append(
            {
                "per_reason": cap,
                "whole": outcome.summary[b.name],
                "held_out": outcome.held_out[b.name],
                "whole_lists": b.quality.summary(),
                "held_out_lists": b.quality.summary(held_out=True),
            }
        )
    print(f"{len(events)} events, {time.perf_counter() - started:.0f} s")
    print(f"{'cap':>4} {'hit@10':>8} {'NDCG@10':>8} {'held hit':>9} {'held NDCG':>10} "
          f"{'shared median':>14} {'ILD':>7}")  # fmt: skip
    for r in rows:
        w, h, q = r["whole"], r["held_out"], r["held_out_lists"]
        print(
            f"{r['per_reason']:>4} {w['hit_rate']:>8.4f} {w['ndcg']:>8.4f} "
            f"{h['hit_rate']:>9.4f} {h['ndcg']:>10.4f} "
            f"{q['most_per_reason_median']:>14} {q['intra_list_diversity']:>7.4f}"
        )
    out = Path(args.out) / time.strftime("tune-blend-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune-blend.json").write_text(json.dumps(rows, indent=2))
    _plot(rows, out / "tune-blend.png")
    print(f"wrote {out}")


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["per_reason"] or float("inf"))  # no cap: rightmost
    caps = [str(r["per_reason"]) if r["per_reason"] else "no cap" for r in rows]
    fig, left = plt.subplots(figsize=(7, 4))
    left.plot(caps, [r["whole"]["hit_rate"] for r in rows], "o-", color="C0")
    left.set_ylabel("hit rate@10 (whole stream)", color="C0")
    left.set_xlabel(f"items per 'because' item ({blend.__name__}.diversify)")
    right = left.twinx()
    right.plot(
        caps, [r["held_out_lists"]["most_per_reason_median"] for r in rows], "s--", color="C1"
    )
    right.set_ylabel("most items sharing one reason, median", color="C1")
    left.set_title("ML-100K prequential: the diversity cap against the hit rate")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
