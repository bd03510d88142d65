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

pytestmark = pytest.mark.integration


def counted_sets(events, kmax: int) -> dict[str, set[str]]:
    """The counting rule, plainly, in each user's stream order (fMax off)."""
    rated: dict[str, set[str]] = {}
    counted: dict[str, set[str]] = {}
    for e in events:
        mine, chosen = rated.setdefault(e.user_id, set()), counted.setdefault(e.user_id, set())
        if e.op == "delete":
            mine.discard(e.item_id)
            chosen.discard(e.item_id)
        elif e.item_id not in mine:
            mine.add(e.item_id)
            if kmax == 0 or len(chosen) < kmax:
                chosen.add(e.item_id)
    return counted


def reference(events, kmax):
    counted = counted_sets(events, kmax)
    items = sorted({e.item_id for e in events})
    m = np.array([[i in c for i in items] for c in counted.values()], dtype=float)
    co = m.T @ m
    np.fill_diagonal(co, 0)
    return items, co, m.sum(axis=0)


def stored(client, items):
    co = np.zeros((len(items), len(items)))
    index = {i: k for k, i in enumerate(items)}
    n = np.zeros(len(items))
    for k, item in enumerate(items):
        for j, c in client.hgetall(keys.item_cooccurrence(item)).items():
            co[k, index[j.decode()]] = int(c)
        n[k] = int(client.hget(keys.item_fence(item), "n") or 0)
        assert int(client.hget(keys.item_counts(), item) or 0) == n[k]
    return co, n


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
