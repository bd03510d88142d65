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

import dataclasses
import itertools
from typing import Any

from bench import tuning
from streams.evaluation import models

SUPPORTS = (1, 2, 3, 5)
SHRINKAGES = (0.0, 10.0, 25.0, 50.0, 100.0)
DAMPINGS = ((5.0, 5.0), (10.0, 5.0), (15.0, 5.0), (10.0, 2.0), (10.0, 10.0), (25.0, 10.0))


def main() -> None:
    parser = tuning.parser(__doc__)
    parser.add_argument("--no-lists", action="store_true", help="rating error only (faster)")
    parser.add_argument("--baseline", action="store_true", help="the baseline's dampings")
    args = parser.parse_args()
    settings, events = tuning.ml100k(args.limit)
    ratings = models.Ratings()
    base = models.UserKNN(settings.user_cf, ratings)
    base.ranks = not args.no_lists
    candidates: list[tuning.Candidate] = []
    for name, config in _settings(settings.user_cf, args.baseline):
        candidates.append(tuning.Candidate(name, base, config, learns=not candidates))
    tuning.run("usercf", events, candidates, ratings, args, "rmse", higher_is_better=False)


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
