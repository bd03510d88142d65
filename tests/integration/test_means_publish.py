"""Means are derived data published after a batch; two workers may publish one user's
means out of order, and the older must never overwrite the newer."""

import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from streams.state import keys
from streams.state.usercf import Store, UserOutcome

pytestmark = pytest.mark.integration


def test_an_older_mean_never_overwrites_a_newer(engine_settings):
    async def publish(outcomes: dict[str, UserOutcome]) -> None:
        client = aioredis.Redis.from_url(engine_settings.redis.url)
        await Store(client).publish_derived(outcomes, {}, set())
        await client.aclose()

    db = redis.Redis.from_url(engine_settings.redis.url)
    asyncio.run(publish({"u": UserOutcome(2, 6.0, False, ver=5)}))  # mean 3 at ver 5
    asyncio.run(publish({"u": UserOutcome(1, 2.0, False, ver=4)}))  # late, older
    assert float(db.hget(keys.user_means(), "u")) == 3.0
    asyncio.run(publish({"u": UserOutcome(3, 12.0, False, ver=6)}))
    assert float(db.hget(keys.user_means(), "u")) == 4.0
    asyncio.run(publish({"u": UserOutcome(0, 0.0, False, ver=7)}))  # no rating left
    assert db.hget(keys.user_means(), "u") is None
