"""The similar lists' pace on the real Redis (streams.engines.pace): an item rated again
within the pace is deferred, its list is left as it was, ``wait-idle`` counts it, and the
timer's round then writes the exact list from the final counts and embeddings."""

import asyncio
import dataclasses

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from streams.algo.itemcf.similarity import cosine_row, most_similar
from streams.commands.wait_idle import _stale_lists
from streams.engines.hybrid import HybridEngine
from streams.engines.itemcf import ItemEngine, UserEvent, UserPortion
from streams.schemas.ratings import RatingEvent
from streams.state import keys
from streams.state.codecs import decode_ranking
from streams.state.hybrid import HybridStore
from streams.state.itemcf import ItemStore
from streams.state.usercf import Store
from tests.cooccurrence import reference
from tests.integration.test_torn_apply import user_portions

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def exact_cf_list(events, item: str, size: int) -> list[tuple[str, float]]:
    items, co, n = reference(events, 0, 0)
    k = items.index(item)
    return most_similar(items, cosine_row(co[k], n[k], n), size)


def test_a_deferred_similar_list_is_owed_then_written_exactly(engine_settings):
    config = dataclasses.replace(engine_settings.item_cf, kmax=0, window=0)
    url = engine_settings.redis.url
    events, batches = user_portions(3)
    hot = batches[1].events[-1].item_id
    ts = 2_000_000_000

    async def go() -> tuple[list, list, int, int]:
        client = aioredis.Redis.from_url(url)
        await client.flushdb()
        progress = Store(client)
        await progress.claim("t#item", 0)
        engine = ItemEngine(ItemStore(client), progress, config, similar_every_s=30)
        clock = engine.pace.clock = Clock()
        for portion in batches[:2]:
            await engine.finish(await engine.apply_batch("t#item", [portion], {}))
            clock.now += 1
        before = decode_ranking(await client.get(keys.item_similar(hot)))
        # the hot item rated again one second later: within the pace, so deferred
        again = UserPortion(0, 10_000, [UserEvent("late", hot, 5.0, 10_000, 0.0)])
        await engine.finish(await engine.apply_batch("t#item", [again], {}))
        held = decode_ranking(await client.get(keys.item_similar(hot)))
        owed = _stale_lists(redis.Redis.from_url(url))
        assert await engine.rescore_due() == 0  # not due yet
        clock.now += 30
        rescored = await engine.rescore_due()
        after = decode_ranking(await client.get(keys.item_similar(hot)))
        left = await client.zcard(keys.similar_due("cf"))
        await client.aclose()
        return before, held, after, (owed, rescored, left, engine.pace.deferred)

    before, held, after, (owed, rescored, left, deferred) = asyncio.run(go())
    final = [*events[: 2 * len(batches[0].events)], RatingEvent("late", hot, 5.0, ts)]
    size = config.similar_size
    assert deferred >= 1 and owed >= 1  # the fault-free "fault": the list was really owed
    assert held == before  # left as the earlier batch wrote it
    assert before != after  # the late rating moved it
    assert rescored >= 1 and left == 0
    want = exact_cf_list(final, hot, size)
    assert [j for j, _s in after] == [j for j, _s in want]
    np.testing.assert_allclose([s for _j, s in after], [s for _j, s in want], atol=1e-9)


def test_embedding_similar_lists_are_paced_and_drained(engine_settings):
    settings = engine_settings
    url = settings.redis.url
    _events, batches = user_portions(3)
    hot = batches[0].events[0].item_id

    async def go() -> tuple[int, int, int]:
        client = aioredis.Redis.from_url(url)
        await client.flushdb()
        progress = Store(client)
        await progress.claim("t#hybrid", 0)
        engine = HybridEngine(
            HybridStore(client), progress, settings.content, settings.embedding,
            settings.embedding.kind == "neural", 10, similar_every_s=30,
        )  # fmt: skip
        clock = engine.pace.clock = Clock()
        await engine.finish(await engine.apply_batch("t#hybrid", [batches[0]], {}))
        clock.now += 1
        again = UserPortion(0, 10_000, [UserEvent("late", hot, 5.0, 10_000, 0.0)])
        await engine.finish(await engine.apply_batch("t#hybrid", [again], {}))
        owed = await client.zcard(keys.similar_due("embedding"))
        clock.now += 30
        rescored = await engine.rescore_due()
        left = await client.zcard(keys.similar_due("embedding"))
        await client.aclose()
        return owed, rescored, left

    owed, rescored, left = asyncio.run(go())
    assert owed == 1 and rescored == 1 and left == 0
