"""The real worker on the real broker and Redis equals the from-scratch reference."""

import random
import time

import numpy as np
import pytest
import redis

from streams.algo.usercf.pearson import pearson
from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.producer import EventProducer
from streams.state import keys
from streams.state.clients import sync_client
from streams.state.codecs import decode_pairs
from tests.conftest import free_port
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.reference import Reference, final_ratings
from tests.scrape import worker_metric

pytestmark = pytest.mark.integration


def _produce(settings, events) -> None:
    with EventProducer(settings.kafka) as producer:
        for event in events:
            producer.send_rating(settings.topics.ratings, event)
    assert producer.report.failed == 0


def assert_state_equals_reference(settings, events, sample_users=None) -> Reference:
    ref = Reference(final_ratings(events))
    client = sync_client(settings.redis)
    users = sample_users or ref.users
    for user in users:
        state = client.hgetall(keys.user_state(user))
        count, total, squares = (float(state[f]) for f in (b"count", b"sum", b"sumsq"))
        assert np.allclose([count, total, squares], ref.stats(user), atol=1e-9), user
        assert abs(float(client.hget(keys.user_means(), user)) - ref.mean(user)) < 1e-9
        partners, sums = decode_pairs(client.hgetall(keys.user_pairs(user)))
        assert sorted(partners) == ref.co_raters(user), user
        means = np.array([ref.mean(v) for v in partners])
        sims = pearson(sums, ref.mean(user), means)
        for partner, row, sim in zip(partners, sums, sims, strict=True):
            assert np.allclose(row, ref.pair_sums(user, partner), atol=1e-9), (user, partner)
            assert abs(sim - ref.similarity(user, partner)) < 1e-9
        stored = {k.decode(): float(v) for k, v in client.hgetall(keys.user_ratings(user)).items()}
        assert stored == {i: r for (u, i), r in final_ratings(events).items() if u == user}
        published = [float(x) for x in client.hget(keys.user_counts(), user).split()]
        assert np.allclose(published, ref.stats(user)[:2], atol=1e-9), user
    # what the user-based baseline is made of: every rating's and each item's (n, Σ r)
    totals = [float(x) for x in client.hmget(keys.rating_totals(), ["n", "s"])]
    assert np.allclose(totals, [ref.mask.sum(), ref.Z.sum()], atol=1e-6)
    for item in ref.items:
        got = [float(x or 0) for x in client.hmget(keys.item_fence(item), ["rn", "rs"])]
        column = ref.mask[:, ref.i[item]]
        assert np.allclose(got, [column.sum(), ref.Z[:, ref.i[item]].sum()], atol=1e-9), item
        copied = [float(x) for x in client.hget(keys.item_ratings(), item).split()]
        assert copied == got, item  # the copy the baseline reads is the fenced value
    return ref


def test_stream_with_rerates_and_deletes_equals_reference(engine_settings, topics, start_worker):
    spec = SyntheticSpec(events=3_000, users=120, items=60, rerate_share=0.15, delete_share=0.08)
    events = list(generate(spec))
    worker = start_worker(engine_settings)
    _produce(engine_settings, events)
    assert wait_idle(engine_settings, timeout=240), "worker did not drain the stream"
    assert worker.poll() is None
    assert_state_equals_reference(engine_settings, events)


def test_top_n_lists_hold_only_unrated_items_scored_by_the_formula(
    engine_settings, topics, start_worker
):
    spec = SyntheticSpec(events=2_000, users=60, items=80, rerate_share=0.05, delete_share=0.02)
    events = list(generate(spec))
    start_worker(engine_settings)
    _produce(engine_settings, events)
    # a neighbour's later mean moves its similarity with partners that shared no item of
    # its batch: the convergence sweep refreshes those once the stream is quiet
    assert wait_idle(engine_settings, timeout=240)
    ref = Reference(final_ratings(events))
    client = redis.Redis.from_url(engine_settings.redis.url)
    sampled = random.Random(1).sample(ref.users, 20)
    checked = 0
    for user in sampled:
        top = client.zrevrange(keys.user_topn(user), 0, -1, withscores=True)
        rated = {i for (u, i) in final_ratings(events) if u == user}
        assert not rated & {item.decode() for item, _ in top}
        neighbours = client.zrevrange(keys.user_neighbours(user), 0, -1, withscores=True)
        c = engine_settings.user_cf
        for nb, sim in neighbours:
            assert abs(sim - ref.similarity(user, nb.decode(), c.min_support, c.shrinkage)) < 1e-9
            assert sim > 0
        checked += len(top)
    assert checked > 0


def test_two_worker_processes_lose_and_double_nothing(engine_settings, topics, start_worker):
    """Users rate the same popular items at the same moments; two workers share the load."""
    spec = SyntheticSpec(
        events=4_000, users=150, items=25, zipf_items=1.3, rerate_share=0.1, delete_share=0.05
    )
    events = list(generate(spec))
    ports = [free_port(), free_port()]
    workers = [start_worker(engine_settings, port) for port in ports]
    time.sleep(10)  # both join the group and split the partitions before the data arrives
    _produce(engine_settings, events)
    assert wait_idle(engine_settings, timeout=300)
    assert all(w.poll() is None for w in workers)
    for port in ports:  # both processes applied batches: the load really was shared
        assert worker_metric(port, 'streamrec_batch_apply_seconds_count{stage="pairs"}') > 0
    client = redis.Redis.from_url(engine_settings.redis.url)
    fences = [
        client.hgetall(keys.partition_progress(engine_settings.by_item_topic, p))
        for p in range(engine_settings.topics.ratings_partitions)
    ]
    assert all(f.get(b"fence") for f in fences)  # every partition was worked on
    assert_state_equals_reference(engine_settings, events)
    assert_cooccurrence_equals_reference(client, events, engine_settings.item_cf)
