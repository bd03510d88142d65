"""Choose which of a user's recent items score their item-to-item list, and how fast
their weight decays, on the tuning part of ML-100K; report every candidate on the
held-out part too (the prequential protocol of ``streamrec eval``).

    .venv/bin/python -m bench.tune_itemcf [--tuning-events 50000] [--limit 0] [--windows]

The co-occurrence counts and similar lists do not depend on these settings (they apply
where a user's list is scored), so one model learns and every candidate ranks from it.
``--windows`` instead chooses which pairs count (the window W and kMax): those change
the counts, so each candidate learns its own model (about 45 s each).
The candidate with the highest hit rate@10 on the tuning part is printed as the choice;
the held-out figures are there to report, never to choose.
"""

from __future__ import annotations

import dataclasses
import itertools

from bench import tuning
from streams.evaluation import models

RECENT = (5, 10, 20, 40)
DECAYS = (0.8, 0.9, 0.95)
WINDOWS = ((0, 100), (20, 0), (30, 0), (30, 100), (40, 0), (50, 0))  # (W, kMax)


def main() -> None:
    parser = tuning.parser(__doc__)
    parser.add_argument("--windows", action="store_true", help="choose W and kMax instead")
    args = parser.parse_args()
    settings, events = tuning.ml100k(args.limit)
    ratings = models.Ratings()
    if args.windows:
        windows = []
        for window, kmax in WINDOWS:
            config = dataclasses.replace(settings.item_cf, window=window, kmax=kmax)
            name = f"window={window},kmax={kmax}"
            windows.append(tuning.Candidate(name, models.ItemCF(config), config, learns=True))
        tuning.run("itemcf-window", events, windows, ratings, args, "hit_rate", True)
        return
    base = models.ItemCF(settings.item_cf)
    candidates: list[tuning.Candidate] = []
    for recent, decay in itertools.product(RECENT, DECAYS):
        config = dataclasses.replace(settings.item_cf, recent=recent, decay=decay)
        name = f"recent={recent},decay={decay:g}"
        candidates.append(tuning.Candidate(name, base, config, learns=not candidates))
    tuning.run("itemcf", events, candidates, ratings, args, "hit_rate", higher_is_better=True)


if __name__ == "__main__":
    main()
