"""The soak's summary (bench/soak.py, bench/soak_report.py): a window's p99 from two reads
of a cumulative histogram, and RSS growth measured after the warm-up, not from the start."""

from __future__ import annotations

from bench.soak import window_p99
from bench.soak_report import growth

INF = float("inf")


def test_the_window_p99_counts_only_what_happened_between_the_reads():
    before = {0.5: 100.0, 1.0: 100.0, 5.0: 100.0, INF: 100.0}  # all fast, earlier
    after = {0.5: 100.0, 1.0: 100.0, 5.0: 200.0, INF: 200.0}  # 100 new, all in (1, 5]
    assert window_p99(before, after) == 5.0
    assert window_p99(after, after) is None  # nothing observed in the window
    after_slow = {0.5: 100.0, 1.0: 100.0, 5.0: 100.0, INF: 101.0}
    assert window_p99(before, after_slow) == 5.0  # past the last bound: the last bound


def _sample(t: float, worker: float) -> dict:
    return {"t_s": t, "rss_mb": {"worker": worker, "reader": 80.0}}


def test_rss_growth_is_taken_after_the_warm_up():
    # a steep warm-up (100 -> 200 MB in the first quarter), flat afterwards
    samples = [_sample(t, 100 + min(t, 250) * 0.4) for t in range(0, 1001, 10)]
    grown = growth(samples)
    assert abs(grown["worker"]) < 0.01 and grown["reader"] == 0.0
    leaking = [_sample(t, 100 + t * 0.4) for t in range(0, 1001, 10)]
    assert growth(leaking)["worker"] > 0.5  # a leak is seen
