"""Pure incremental math for user-based collaborative filtering: no I/O, no Redis, no Kafka.

Everything here is checked after every update against a from-scratch numpy reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Gt, Interval


@dataclass(frozen=True)
class UserCFConfig:
    """The user-based path (``STREAMREC_USER_CF__*``); bounds are checked at start-up."""

    neighbourhood_size: Annotated[int, Interval(ge=1, le=1000)] = 50
    predict_k: Annotated[int, Interval(ge=1, le=1000)] = 40
    topn_size: Annotated[int, Interval(ge=1, le=1000)] = 50
    # Pearson over one co-rated item is ±1 and would fill a neighbourhood with strangers
    # who share one film; both chosen on the first 50,000 ML-100K events (bench.tune_usercf,
    # docs/evaluation.md): λ = 25 gave the lowest RMSE, support 2 costs 0.0012 of it and
    # keeps every neighbour shown on at least two shared items
    min_support: Annotated[int, Ge(1)] = 2
    # λ of the significance weight sim·n/(n+λ) over n co-rated items (0 = raw Pearson)
    shrinkage: Annotated[float, Interval(ge=0, le=10_000)] = 25.0
    # predictions deviate from the baseline μ + b_u + b_i (streams.algo.usercf.baseline)
    # with biases damped by λ ratings, or (off) from the users' means; λs chosen on the
    # first 50,000 ML-100K events (bench.tune_usercf, docs/evaluation.md)
    baseline: bool = True
    item_damping: Annotated[float, Interval(ge=0, le=10_000)] = 5.0
    user_damping: Annotated[float, Interval(ge=0, le=10_000)] = 5.0
    popularity_half_life_s: Annotated[float, Gt(0)] = 30 * 86_400
    # t0 of the popularity weight 2^((ts − t0)/half-life); set once, before the first event
    popularity_epoch_s: Annotated[float, Interval(ge=0, lt=1e11)] = 1.5e9
    # the caps that bound the cost of one event (docs/algorithm.md); 0 = off = exact
    fan_out_cap: Annotated[int, Interval(ge=0, le=100_000)] = 0
    history_cap: Annotated[int, Interval(ge=0, le=10_000_000)] = 0
    # derived by the worker's settings, never set by hand: the event limits' rating range
    # and the by-item partitions the history cap is divided over
    rating_bounds: tuple[float, float] = (0.5, 5.0)
    history_partitions: Annotated[int, Ge(1)] = 1

    @property
    def damping(self) -> tuple[float, float] | None:
        """(item, user) λ of the baseline, None when predictions deviate from means."""
        return (self.item_damping, self.user_damping) if self.baseline else None

    @property
    def history_cap_per_partition(self) -> int:
        """The cap is kept per by-item partition (each count is moved by one owner, in log
        order): ⌈H / partitions⌉ each, so at most about H in all."""
        h, p = self.history_cap, self.history_partitions
        return -(-h // p) if h else 0
