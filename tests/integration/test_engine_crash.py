"""Exactly-once effect: kill -9 the worker at random points of an ML-100K replay (all three
paths: user-based, item-to-item, embedding)."""

import asyncio
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from streams.algo.usercf.pearson import pearson
from streams.commands.wait_idle import lag, wait_idle
from streams.datasets import movielens
from streams.engines.usercf import Engine
from streams.producer import EventProducer
from streams.state import keys
from streams.state.codecs import decode_pairs
from streams.state.usercf import Store
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.reference import Reference, final_ratings

pytestmark = pytest.mark.integration


def _kill_at_random_points(settings, start_worker, kills: int, rng: random.Random) -> int:
    """Start the worker; kill -9 it ``kills`` times while it is busy, restart each time."""
    worker = start_worker(settings)
    done = 0
    while done < kills:
        time.sleep(rng.uniform(6, 14))
        if lag(settings) == 0:
            break  # nothing left to interrupt
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        done += 1
        worker = start_worker(settings)
    return done


def assert_no_record_skipped(start_worker) -> None:
    """No worker saw Kafka's committed offset pass records a path had not applied
    (``streams.worker.batching``): the first thing to rule out when a count is short."""
    for log in start_worker.logs():
        assert "were never received" not in log.read_text(errors="replace"), log


@pytest.mark.timeout(900)  # the whole of ML-100K through both paths, with restarts
def test_kill_9_during_ml100k_replay_counts_nothing_twice_and_loses_nothing(
    engine_settings, topics, start_worker
):
    folder = movielens.ensure_ml100k(Path(engine_settings.cache_dir) / "datasets")
    events = movielens.load_ratings(folder)
    with EventProducer(engine_settings.kafka) as producer:
        for event in events:
            producer.send_rating(topics.ratings, event)
    assert producer.report.delivered == len(events), producer.last_error  # all in Kafka
    rng = random.Random(20261126)
    kills = _kill_at_random_points(engine_settings, start_worker, kills=3, rng=rng)
    assert kills >= 2, "the replay finished before the worker could be killed twice"
    assert wait_idle(engine_settings, timeout=900)
    assert_no_record_skipped(start_worker)

    ref = Reference(final_ratings(events))
    client = redis.Redis.from_url(engine_settings.redis.url)
    # the item-to-item counts too: every co-occurrence and n(i) (kMax as configured)
    assert_cooccurrence_equals_reference(client, events, engine_settings.item_cf)
    # the embedding path: every rating counted once in μ, every user's ratings intact
    final = final_ratings(events)
    mean = np.frombuffer(client.hget(keys.embedding_model(), "mean"), dtype="<f8")
    assert mean[0] == len(final) and abs(mean[1] - sum(final.values())) < 1e-6
    for user in ref.users:
        rated = client.hgetall(keys.user_embedding_ratings(user))
        want = {i: r for (u, i), r in final.items() if u == user}
        assert {i.decode(): float(r) for i, r in rated.items()} == want, user
    for user in ref.users:  # every user's count, sum and sum of squares
        state = client.hgetall(keys.user_state(user))
        got = [float(state[f]) for f in (b"count", b"sum", b"sumsq")]
        assert np.allclose(got, ref.stats(user), atol=1e-9), user
    pairs = [(u, v) for u, v in (rng.sample(ref.users, 2) for _ in range(3000)) if u != v]
    checked = 0
    for u, v in pairs:
        expected = ref.pair_sums(u, v)
        if expected[0] == 0:
            continue
        stored = client.hget(keys.user_pairs(u), v)
        assert stored is not None, f"pair {u}-{v} lost"
        _partner, sums = decode_pairs({v.encode(): stored})
        assert np.allclose(sums[0], expected, atol=1e-9), (u, v)
        sim = pearson(sums[0], ref.mean(u), ref.mean(v))
        assert abs(float(sim) - ref.similarity(u, v)) < 1e-9
        checked += 1
        if checked == 1000:
            break
    assert checked == 1000

    async def predictions() -> list[tuple[float, float]]:
        engine = Engine(
            Store(aioredis.Redis.from_url(engine_settings.redis.url)),
            engine_settings.user_cf,
        )
        out = []
        for _ in range(200):
            user, item = rng.choice(ref.users), rng.choice(ref.items)
            got = await engine.predict(user, item)
            c = engine_settings.user_cf
            want = ref.predict(user, item, 40, (0.5, 5.0), c.min_support, c.shrinkage, c.damping)
            out.append((got.value, want))
        await engine.store.redis.aclose()
        return out

    for got, expected in asyncio.run(predictions()):
        assert abs(got - expected) < 1e-9
