import collections
import itertools

import pytest

from streams.datasets.synthetic import SyntheticSpec, generate


def test_same_spec_same_stream_other_seed_other_stream():
    spec = SyntheticSpec(events=2_000, users=100, items=50, seed=7)
    assert list(generate(spec)) == list(generate(spec))
    assert list(generate(spec)) != list(generate(SyntheticSpec(2_000, 100, 50, seed=8)))


def test_shape_of_the_stream():
    spec = SyntheticSpec(events=20_000, users=500, items=200, rerate_share=0.1, delete_share=0.05)
    events = list(generate(spec, chunk=3_000))
    assert len(events) == spec.events
    assert all(a.ts < b.ts for a, b in itertools.pairwise(events))
    ratings = [e.rating for e in events if e.op == "upsert"]
    assert set(ratings) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    deletes = sum(e.op == "delete" for e in events)
    assert 0.03 < deletes / len(events) < 0.07
    seen, repeats = set(), 0
    for e in events:
        repeats += (e.user_id, e.item_id) in seen
        seen.add((e.user_id, e.item_id))
    assert repeats / len(events) > 0.12  # re-ratings and deletes revisit earlier pairs


def test_popularity_is_skewed():
    events = list(generate(SyntheticSpec(events=20_000, users=500, items=200)))
    counts = sorted(collections.Counter(e.item_id for e in events).values(), reverse=True)
    top_tenth = sum(counts[: len(counts) // 10])
    assert top_tenth / sum(counts) > 0.3  # uniform would give 0.1


@pytest.mark.parametrize("bad", [dict(events=0), dict(rerate_share=0.7, delete_share=0.4)])
def test_bad_specs_are_refused(bad):
    with pytest.raises(ValueError):
        SyntheticSpec(**bad)
