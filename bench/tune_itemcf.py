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

import dataclasses
import itertools

from bench import tuning
from streams.evaluation import models

RECENT = (5, 10, 20, 40)
DECAYS = (0.8, 0.9, 0.95)


def main() -> None:
    args = tuning.parser(__doc__).parse_args()
    settings, events = tuning.ml100k(args.limit)
    ratings = models.Ratings()
    base = models.ItemCF(settings.item_cf)
    candidates: list[tuning.Candidate] = []
    for recent, decay in itertools.product(RECENT, DECAYS):
        config = dataclasses.replace(settings.item_cf, recent=recent, decay=decay)
        name = f"recent={recent},decay={decay:g}"
        candidates.append(tuning.Candidate(name, base, config, learns=not candidates))
    tuning.run("itemcf", events, candidates, ratings, args, "hit_rate", higher_is_better=True)


if __name__ == "__main__":
    main()
