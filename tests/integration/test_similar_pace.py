"""The similar lists' pace on the real Redis (streams.engines.pace): an item rated again
within the pace is deferred, its list is left as it was, ``wait-idle`` counts it, and the
timer's round then writes the exact list from the final counts and embeddings, also when
another worker moved the item's row after this one's last apply."""

import asyncio
import dataclasses

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from streams.algo.content import vectors
from streams.algo.itemcf.similarity import cosine_row, most_similar
from streams.commands.wait_idle import _stale_lists
from streams.engines.hybrid import HybridEngine
from streams.engines.itemcf import ItemEngine, UserEvent, UserPortion
from streams.metrics import SIMILAR_OWED
from streams.schemas.ratings import RatingEvent
from streams.state import keys
from streams.state.codecs import decode_ranking
from streams.state.hybrid import HybridStore
from streams.state.itemcf import ItemStore
from streams.state.usercf import Store
from streams.worker.similar_timer import report_owed
from tests.cooccurrence import reference
from tests.integration.test_torn_apply import user_portions

pytestmark = pytest.mark.integration
TS = 2_000_000_000


def exact_cf_list(events, item: str, size: int) -> list[tuple[str, float]]:
    items, co, n = reference(events, 0, 0)
    k = items.index(item)
    return most_similar(items, cosine_row(co[k], n[k], n), size)


def assert_same_list(got, want) -> None:
    assert [j for j, _s in got] == [j for j, _s in want]
    np.testing.assert_allclose([s for _j, s in got], [s for _j, s in want], atol=1e-9)


async def item_engine(client, config, partition: int) -> ItemEngine:
    progress = Store(client)
    await progress.claim("t#item", partition)
    return ItemEngine(ItemStore(client), progress, config, similar_every_s=30)


async def apply(engine: ItemEngine, portions: list[UserPortion]) -> None:
    for portion in portions:
        await engine.finish(await engine.apply_batch("t#item", [portion], {}))


def late(hot: str) -> UserPortion:
    """The hot item rated again at once: within the pace, so deferred."""
    return UserPortion(0, 10_000, [UserEvent("late", hot, 5.0, 10_000, 0.0)])


def scene(engine_settings):
    """Exact item-to-item settings, a small stream in three batches and its hot item."""
    config = dataclasses.replace(engine_settings.item_cf, kmax=0, window=0)
    events, batches = user_portions(3)
    return config, engine_settings.redis.url, events, batches, batches[1].events[-1].item_id


async def flushed(url: str) -> aioredis.Redis:
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    return client


def test_a_deferred_similar_list_is_owed_then_written_exactly(engine_settings):
    config, url, events, batches, hot = scene(engine_settings)

    async def go():
        client = await flushed(url)
        engine = await item_engine(client, config, 0)
        await apply(engine, batches[:2])
        before = decode_ranking(await client.get(keys.item_similar(hot)))
        await apply(engine, [late(hot)])
        held = decode_ranking(await client.get(keys.item_similar(hot)))
        owed = await client.zrange(keys.similar_due("cf"), 0, -1)
        await report_owed([engine])
        gauge = [SIMILAR_OWED.labels("cf", s)._value.get() for s in ("due", "taken")]
        sync = redis.Redis.from_url(url)
        stale = _stale_lists(sync, kinds=("cf",))
        sync.close()
        running = await engine.rescore_due(quiet=False)  # due in 30 s, the stream running
        quiet = await engine.rescore_due(quiet=True)
        after = decode_ranking(await client.get(keys.item_similar(hot)))
        left = await client.zcard(keys.similar_due("cf")) + await client.zcard(
            keys.similar_taken("cf")
        )
        await report_owed([engine])
        gauge += [SIMILAR_OWED.labels("cf", s)._value.get() for s in ("due", "taken")]
        await client.aclose()
        return before, held, owed, stale, running, quiet, after, left, gauge

    before, held, owed, stale, running, quiet, after, left, gauge = asyncio.run(go())
    final = [*events[: 2 * len(batches[0].events)], RatingEvent("late", hot, 5.0, TS)]
    assert hot in {o.decode() for o in owed} and stale >= len(owed)  # owed, and counted
    assert gauge == [len(owed), 0, 0, 0]  # streamrec_similar_owed, then none left
    assert held == before != after  # left as it was, then moved by the late rating
    assert (running, quiet, left) == (0, len(owed), 0)
    assert_same_list(after, exact_cf_list(final, hot, config.similar_size))


def test_a_taken_list_is_scored_from_the_row_another_worker_moved(engine_settings):
    """Worker A holds a copy of the hot item's row that its last apply proved current;
    worker B then applies a rating of it. A's timer takes the item and must not trust
    its copy: with the copy trusted, the list misses B's rating."""
    config, url, events, batches, hot = scene(engine_settings)

    async def go():
        client = await flushed(url)
        a = await item_engine(client, config, 0)
        b = await item_engine(client, config, 1)
        await apply(a, [*batches[:2], late(hot)])
        assert hot in a.store.current  # A's copy, proven by A's own apply
        first = batches[0].events[0].item_id if batches[0].events[0].item_id != hot else "x"
        other = UserPortion(  # a new pair for the hot item's row
            1,
            1,
            [UserEvent("elsewhere", first, 3.0, 0, 0.0), UserEvent("elsewhere", hot, 4.0, 1, 0.0)],
        )
        await b.apply_batch("t#item", [other], {})  # B moves the row; B dies before lists
        taken = await a.rescore_due(quiet=True)
        after = decode_ranking(await client.get(keys.item_similar(hot)))
        await client.aclose()
        return taken, after, first

    taken, after, first = asyncio.run(go())
    final = [*events[: 2 * len(batches[0].events)], RatingEvent("late", hot, 5.0, TS)]
    final += [RatingEvent("elsewhere", first, 3.0, TS + 1)]
    final += [RatingEvent("elsewhere", hot, 4.0, TS + 2)]
    assert taken >= 1
    assert_same_list(after, exact_cf_list(final, hot, config.similar_size))


def test_embedding_similar_lists_are_left_to_the_timer_and_read_after_its_take(
    engine_settings,
):
    settings = engine_settings
    url = settings.redis.url
    _events, batches = user_portions(2)
    rated = sorted({e.item_id for e in batches[0].events})

    async def go():
        client = await flushed(url)
        progress = Store(client)
        await progress.claim("t#hybrid", 0)
        engine = HybridEngine(
            HybridStore(client), progress, settings.content, settings.embedding,
            settings.embedding.kind == "neural", 10, similar_every_s=30,
        )  # fmt: skip
        await engine.finish(await engine.apply_batch("t#hybrid", [batches[0]], {}))
        owed = sorted(i.decode() for i in await client.zrange(keys.similar_due("embedding"), 0, -1))
        written = await client.exists(*(keys.item_similar_embedding(i) for i in rated))
        taken = await engine.rescore_due(quiet=False)  # the first round: due at once
        ids, _b, q = engine.item_space(await engine._model())
        norms = np.linalg.norm(q, axis=1)
        unit = q / np.where(norms > 0, norms, 1.0)[:, None]
        index = {i: k for k, i in enumerate(ids)}
        want = vectors.nearest(ids, unit, [index[i] for i in rated], settings.content.similar_size)
        got = {i: decode_ranking(await client.get(keys.item_similar_embedding(i))) for i in rated}
        await client.aclose()
        return owed, written, taken, want, got

    owed, written, taken, want, got = asyncio.run(go())
    assert owed == rated and written == 0  # the batch deferred them all, wrote none
    assert taken == len(rated)
    for item in rated:
        assert_same_list(got[item], want[item])
