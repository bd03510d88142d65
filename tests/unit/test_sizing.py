"""The sizing bench files every key by family and fits bytes per event."""

from __future__ import annotations

import pytest

from bench.sizing import family, fit
from streams.state import keys


@pytest.mark.parametrize(
    ("key", "want"),
    [
        (keys.user_pairs("u:{1}"), "user pairs"),  # an id that looks like the layout
        (keys.user_served("42"), "user served"),
        (keys.item_cooccurrence("i7"), "item cooc"),
        (keys.user_means(), "global means"),
        (keys.served_due(), "global served:due"),
        (keys.partition_progress("ratings", 3), "progress"),
    ],
)
def test_every_key_is_filed_under_its_family(key, want):
    assert family(key.encode()) == want


def test_a_key_outside_the_layout_is_other():
    assert family(b"someone-elses-key") == "other"


def test_the_fit_is_bytes_per_event_through_the_origin():
    rows = [{"events": 100, "bytes": 1_000}, {"events": 200, "bytes": 2_000}]
    assert fit(rows) == pytest.approx(10.0)
    rows[1]["bytes"] = 2_600  # more per event at the larger size: the fit lies between
    assert 10.0 < fit(rows) < 13.0


def _row(events: int, pairs_bytes: int, other_bytes: int, entries: int) -> dict:
    families = {
        "user pairs": {"bytes": pairs_bytes, "keys": 1},
        "(pair entries)": {"keys": entries},
    }
    return {"events": events, "bytes": pairs_bytes + other_bytes, "families": families}


def test_projections_flat_growth_and_the_caps_bound():
    from bench.sizing import TARGET_EVENTS, projections

    flat = [_row(1_000, 3_000, 2_000, 40), _row(2_000, 6_000, 4_000, 80)]  # 5 B per event
    low, trend, bound = projections(flat)
    assert low == pytest.approx(5 * TARGET_EVENTS) and trend == pytest.approx(low)
    assert bound == pytest.approx((2 + 2 * 50 * 75) * TARGET_EVENTS)  # 75 B per entry
    growing = [_row(1_000, 3_000, 2_000, 40), _row(2_000, 8_000, 4_000, 100)]
    low, trend, bound = projections(growing)
    assert low < trend <= bound
