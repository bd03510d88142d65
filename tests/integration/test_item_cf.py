"""The item-to-item path on the real broker and Redis equals a from-scratch reference."""

from dataclasses import replace

import numpy as np
import pytest
import redis

from streams.algo.itemcf.similarity import cosine_row, most_similar
from streams.algo.usercf.pearson import pearson
from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.producer import EventProducer
from streams.schemas.ratings import RatingEvent
from streams.state import keys
from streams.state.codecs import decode_pairs, decode_ranking
from tests.cooccurrence import counted_sets, pearson_reference, reference, stored

pytestmark = pytest.mark.integration


def replay_then_touch(settings, events, start_worker) -> RatingEvent:
    """Replay ``events``, wait until applied, then rate the last item once more from a
    new user: that re-scores the item's list from the final counts (appended to events)."""
    start_worker(settings)
    with EventProducer(settings.kafka) as producer:
        for event in events:
            producer.send_rating(settings.topics.ratings, event)
    assert wait_idle(settings, timeout=240)
    last = RatingEvent("newcomer", events[-1].item_id, 4.0, events[-1].ts + 1)
    events.append(last)
    with EventProducer(settings.kafka) as producer:
        producer.send_rating(settings.topics.ratings, last)
    assert wait_idle(settings, timeout=60)
    return last


@pytest.mark.parametrize(("kmax", "window"), [(0, 0), (7, 0), (0, 3)])
def test_cooccurrence_counts_equal_reference(engine_settings, topics, start_worker, kmax, window):
    settings = engine_settings.model_copy(
        update={"item_cf": replace(engine_settings.item_cf, kmax=kmax, window=window)}
    )
    spec = SyntheticSpec(events=2_500, users=80, items=40, rerate_share=0.15, delete_share=0.1)
    events = list(generate(spec))
    last = replay_then_touch(settings, events, start_worker)  # its list: the exact top
    items, want_co, want_n = reference(events, kmax, window)
    client = redis.Redis.from_url(settings.redis.url)
    got_co, got_n = stored(client, items)
    np.testing.assert_array_equal(got_co, want_co)
    np.testing.assert_array_equal(got_n, want_n)
    if kmax:  # the cap bounds every user's counted history
        assert all(len(c) <= kmax for c in counted_sets(events, kmax).values())
    k = items.index(last.item_id)
    sims = cosine_row(want_co[k], want_n[k], want_n)
    want = most_similar(items, sims, settings.item_cf.similar_size)
    got = decode_ranking(client.get(keys.item_similar(last.item_id)))
    assert sorted((j, round(s, 9)) for j, s in got) == sorted((j, round(s, 9)) for j, s in want)
    # every acting user has an item-to-item list of items they have not rated
    user = events[-2].user_id
    rated = {e.item_id for e in events if e.user_id == user}
    listed = {i.decode() for i in client.zrange(keys.user_item_topn(user), 0, -1)}
    reasons = {
        k.decode(): v.decode() for k, v in client.hgetall(keys.user_item_reasons(user)).items()
    }
    assert not listed & rated and set(reasons) == listed
    assert set(reasons.values()) <= rated | {e.item_id for e in events}


def test_pearson_option_keeps_exact_sums_and_lists(engine_settings, topics, start_worker):
    settings = engine_settings.model_copy(
        update={"item_cf": replace(engine_settings.item_cf, kmax=6, window=2, similarity="pearson")}
    )
    spec = SyntheticSpec(events=2_000, users=70, items=30, rerate_share=0.2, delete_share=0.1)
    events = list(generate(spec))
    last = replay_then_touch(settings, events, start_worker)
    items = sorted({e.item_id for e in events})
    c = settings.item_cf
    want_sums, want_means = pearson_reference(events, c.kmax, items, c.window)
    client = redis.Redis.from_url(settings.redis.url)
    for i in items:
        partners, sums = decode_pairs(client.hgetall(keys.item_pair_sums(i)))
        assert sorted(partners) == sorted(j for (a, j) in want_sums if a == i), i
        for j, row in zip(partners, sums, strict=True):
            np.testing.assert_allclose(row, want_sums[(i, j)], atol=1e-9)
        if i in want_means:
            assert abs(float(client.hget(keys.item_means(), i)) - want_means[i]) < 1e-9
    target = last.item_id
    partners = sorted(j for (a, j) in want_sums if a == target)
    rows = np.array([want_sums[(target, j)] for j in partners])
    means = np.array([want_means[j] for j in partners])
    sims = pearson(rows, want_means[target], means, min_support=2)
    want = most_similar(partners, sims, settings.item_cf.similar_size)
    got = decode_ranking(client.get(keys.item_similar(target)))
    assert want and [j for j, _s in got] == [j for j, _s in want]
    for (_j, kept), (_w, exact) in zip(got, want, strict=True):
        assert abs(kept - exact) < 1e-9
