"""The item-to-item path on the real broker and Redis equals a from-scratch reference."""

import numpy as np
import pytest
import redis

from streams import keys
from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.itemcf.similarity import cosine_row, most_similar
from streams.producer import EventProducer
from streams.schemas.ratings import RatingEvent
from tests.cooccurrence import counted_sets, reference, stored

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kmax", [0, 7])
def test_cooccurrence_counts_equal_reference(engine_settings, topics, start_worker, kmax):
    settings = engine_settings.model_copy(update={"item_cf_kmax": kmax})
    spec = SyntheticSpec(events=2_500, users=80, items=40, rerate_share=0.15, delete_share=0.1)
    events = list(generate(spec))
    start_worker(settings)
    with EventProducer(settings.kafka) as producer:
        for event in events:
            producer.send_rating(settings.topics.ratings, event)
    assert wait_idle(settings, timeout=240)
    # once everything is applied, one more rating of an item re-scores its list from the
    # final counts: that list must then be the exact top of the reference cosines
    last = RatingEvent("newcomer", events[-1].item_id, 4.0, events[-1].ts + 1)
    events.append(last)
    with EventProducer(settings.kafka) as producer:
        producer.send_rating(settings.topics.ratings, last)
    assert wait_idle(settings, timeout=60)
    items, want_co, want_n = reference(events, kmax)
    client = redis.Redis.from_url(settings.redis.url)
    got_co, got_n = stored(client, items)
    np.testing.assert_array_equal(got_co, want_co)
    np.testing.assert_array_equal(got_n, want_n)
    if kmax:  # the cap bounds every user's counted history
        assert all(len(c) <= kmax for c in counted_sets(events, kmax).values())
    k = items.index(last.item_id)
    sims = cosine_row(want_co[k], want_n[k], want_n)
    want = most_similar(items, sims, settings.item_cf_similar_size)
    got = client.zrevrange(keys.item_similar(last.item_id), 0, -1, withscores=True)
    assert sorted((j.decode(), round(s, 9)) for j, s in got) == sorted(
        (j, round(s, 9)) for j, s in want
    )
    # every acting user has an item-to-item list of items they have not rated
    user = events[-2].user_id
    rated = {e.item_id for e in events if e.user_id == user}
    listed = {i.decode() for i in client.zrange(keys.user_item_topn(user), 0, -1)}
    reasons = {
        k.decode(): v.decode() for k, v in client.hgetall(keys.user_item_reasons(user)).items()
    }
    assert not listed & rated and set(reasons) == listed
    assert set(reasons.values()) <= rated | {e.item_id for e in events}
