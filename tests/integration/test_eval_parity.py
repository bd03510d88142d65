"""The evaluation's in-memory models give what the real stack gives (Kafka, worker,
Redis, reader) on a prefix of MovieLens-100K: same predictions, same co-occurrence
counts, same user-based top-N."""

import asyncio
import random
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import ReaderSettings
from streams.commands.evaluate import build
from streams.commands.wait_idle import wait_idle
from streams.datasets import movielens
from streams.engines.usercf import Engine
from streams.producer import EventProducer
from streams.state import keys
from streams.state.usercf import Store

pytestmark = pytest.mark.integration
PREFIX = 4_000


def test_in_memory_models_equal_the_stack(engine_settings, topics, start_worker):
    folder = movielens.ensure_ml100k(Path(engine_settings.cache_dir) / "datasets")
    events = movielens.load_ratings(folder)[:PREFIX]
    start_worker(engine_settings)
    with EventProducer(engine_settings.kafka) as producer:
        for event in events:
            producer.send_rating(topics.ratings, event)
    assert wait_idle(engine_settings, timeout=300)

    chosen, ratings = build(engine_settings, with_peers=False, items={})
    by_name = {m.name: m for m in chosen}
    for offset, e in enumerate(events):
        ratings.learn(e.user_id, e.item_id, e.rating)
        for model in chosen:
            model.learn(e.user_id, e.item_id, e.rating, offset, e.ts)

    rng = random.Random(5)
    users = sorted({e.user_id for e in events})
    items = sorted({e.item_id for e in events})
    sample = rng.sample(users, 40)

    async def refresh() -> None:  # lists of users who did not act lag by design (see
        client = aioredis.Redis.from_url(engine_settings.redis.url)  # docs/algorithm.md)
        await Engine(Store(client), engine_settings.user_cf).refresh(sample)
        await client.aclose()

    asyncio.run(refresh())
    reader = ReaderSettings(kafka=engine_settings.kafka, redis=engine_settings.redis)
    with TestClient(create_app(reader)) as client:
        for _ in range(150):
            user, item = rng.choice(users), rng.choice(items)
            served = client.get(f"/v1/users/{user}/predict/{item}").json()["prediction"]
            assert abs(served - by_name["user-cf"].predict(user, item)) < 1e-9, (user, item)
        for user in sample:
            body = client.get(
                f"/v1/users/{user}/recommendations", params={"n": 10, "source": "user-cf"}
            ).json()
            want = by_name["user-cf"].ranked(user, 10)
            assert [i["item_id"] for i in body["items"]] == [i for i, _s in want], user
            for got, (_i, score) in zip(body["items"], want, strict=True):
                assert abs(got["score"] - score) < 1e-9

    db = redis.Redis.from_url(engine_settings.redis.url)
    item_cf = by_name["item-cf"]
    for item in items:
        stored = {j.decode(): int(c) for j, c in db.hgetall(keys.item_cooccurrence(item)).items()}
        assert stored == item_cf.rows.get(item, {}), item
        assert int(db.hget(keys.item_fence(item), "n") or 0) == item_cf.counts.get(item, 0)
