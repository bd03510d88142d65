"""What the user-based baseline reads (every rating's, each user's and each item's count
and sum) and the popular list after batches of re-ratings and deletes equal the ratings
standing, also when a crash lands between a batch's items and its published copies and
the batch is redone. On the real Redis, the engine driven directly."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from streams.algo.usercf import UserCFConfig
from streams.engines.usercf import Engine, Portion, popularity_weight
from streams.state import keys
from streams.state.usercf import Store
from tests.unit.test_perf_coalescing import batch


def standing(batches: list[list[Portion]]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for portions in batches:
        for e in sorted((e for p in portions for e in p.events), key=lambda e: e.source_offset):
            out.pop((e.user_id, e.item_id), None)
            if e.rating is not None:
                out[(e.user_id, e.item_id)] = e.rating
    return out


async def _replay(url: str, batches: list[list[Portion]], crash_at: int | None) -> bool:
    """Apply the batches; batch ``crash_at`` dies once after its items were written,
    before what it publishes, and is applied again. True if the crash left the copies
    behind the fenced counts (the fault landed where it was meant to)."""
    engine = Engine(Store(aioredis.Redis.from_url(url)), UserCFConfig())
    behind = False
    for n, portions in enumerate(batches):
        if n == crash_at:
            publish = engine.store.publish_derived

            async def crash(*_args, **_kwargs):
                raise ConnectionError("killed")

            engine.store.publish_derived = crash  # type: ignore[method-assign]
            with pytest.raises(ConnectionError):
                await engine.apply_batch(portions)
            engine.store.publish_derived = publish  # type: ignore[method-assign]
            behind = await _copies_behind(engine.store.redis, portions)
        await engine.apply_batch(portions)
    await engine.store.redis.aclose()
    return behind


async def _copies_behind(client: aioredis.Redis, portions: list[Portion]) -> bool:
    items = sorted({e.item_id for p in portions for e in p.events})
    fenced = [await client.hmget(keys.item_fence(i), ["rn", "rs"]) for i in items]
    copies = await client.hmget(keys.item_ratings(), items)
    return any(c is None or c.split() != f for c, f in zip(copies, fenced, strict=True))


@pytest.mark.parametrize("crash_at", [None, 2])
def test_the_baseline_inputs_equal_the_ratings_standing(engine_settings, crash_at):
    url = engine_settings.redis.url
    client = redis.Redis.from_url(url)
    rng = random.Random(11)
    batches, offset = [], 0
    for size in (60, 80, 80, 40):
        batches.append(batch(rng, offset, size))
        offset += size
    client.flushdb()
    landed = asyncio.run(_replay(url, batches, crash_at))
    assert landed == (crash_at is not None)
    now = standing(batches)
    totals = [float(x) for x in client.hmget(keys.rating_totals(), ["n", "s"])]
    assert np.allclose(totals, [len(now), sum(now.values())], atol=1e-9)
    config = UserCFConfig()
    weight = popularity_weight(1.6e9, config.popularity_epoch_s, config.popularity_half_life_s)
    for item in {i for _u, i in now}:
        mine = [r for (_u, i), r in now.items() if i == item]
        copy = [float(x) for x in client.hget(keys.item_ratings(), item).split()]
        assert np.allclose(copy, [len(mine), sum(mine)], atol=1e-9), item
        # every event of the batches has one time: the decayed count is weight × count
        assert client.zscore(keys.popular(), item) == pytest.approx(weight * len(mine)), item
    for user in {u for u, _i in now}:
        mine = [r for (u, _i), r in now.items() if u == user]
        published = [float(x) for x in client.hget(keys.user_counts(), user).split()]
        assert np.allclose(published, [len(mine), sum(mine)], atol=1e-9), user
