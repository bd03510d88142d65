"""A crash inside a path's apply, at every command Redis could have received.

For each prefix length (``tests/torn.py``) a test applies three batches, tears the fourth
after that many pipelined commands, redoes it as the restarted worker would, and checks
the state against a reference, together with the global copies the reader and the other
paths use (an item's n, a user's mean and counts, an item's ratings)."""

import asyncio
import dataclasses
import random

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from streams.algo.usercf import UserCFConfig
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.engines.hybrid import HybridEngine
from streams.engines.itemcf import ItemEngine, UserEvent, UserPortion
from streams.engines.usercf import Engine
from streams.schemas.ratings import RatingEvent
from streams.state import keys
from streams.state.hybrid import HybridStore
from streams.state.itemcf import ItemStore
from streams.state.usercf import Store
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.integration.test_hot_items import assert_equals_reference, portions
from tests.torn import Torn, every_prefix
from tests.unit.test_caps import CappedReference

pytestmark = pytest.mark.integration

BATCH = 40


def user_portions(count: int) -> tuple[list, list[UserPortion]]:
    """A small synthetic stream with re-ratings and deletes, cut into batches of one
    ratings partition as the ``ratings`` agent hands them in."""
    spec = SyntheticSpec(
        events=count * BATCH, users=12, items=15, rerate_share=0.15, delete_share=0.1
    )
    events = list(generate(spec))
    batches = [
        UserPortion(
            0,
            k + BATCH - 1,
            [
                UserEvent(e.user_id, e.item_id, e.rating, k + j, 0.0)
                for j, e in enumerate(events[k : k + BATCH])
            ],
        )
        for k in range(0, len(events), BATCH)
    ]
    return events, batches


async def item_cf(
    url: str, config, budget: int | None, monkeypatch, redo: str, lost: bool = False
) -> tuple[int, bool, int]:
    """``redo``: "restart" (a fresh engine: no row copies) or "retry" (the same engine,
    as the worker retries a batch after a Redis error, its copies as the tear left them)."""
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    progress = Store(client)
    await progress.claim("t#item", 0)
    events, batches = user_portions(5)
    engine = ItemEngine(ItemStore(client), progress, config)
    for portion in batches[:3]:  # re-scored too: the rows are held from the first batch on
        await engine.finish(await engine.apply_batch("t#item", [portion], {}))
    torn = Torn(budget, lost)
    set_before = engine.store.rows_set
    with monkeypatch.context() as patch:
        torn.install(patch)
        try:
            await engine.apply_batch("t#item", [batches[3]], {})
        except RedisConnectionError:
            assert torn.torn
    from_copies = engine.store.rows_set - set_before
    if torn.torn:  # the batch again, from its recorded plan
        plan = await progress.plan("t#item", 0)  # none if torn before the intent
        if redo == "restart":
            engine = ItemEngine(ItemStore(client), progress, config)
        await engine.apply_batch("t#item", [batches[3]], {} if plan is None else {0: plan})
    sync = redis.Redis.from_url(url)
    try:
        assert_cooccurrence_equals_reference(sync, events[: 4 * BATCH], config)
        await engine.apply_batch("t#item", [batches[4]], {})
        assert_cooccurrence_equals_reference(sync, events, config)
    finally:
        sync.close()
        await client.aclose()
    return torn.sent, torn.torn, from_copies


@pytest.mark.parametrize("lost", [False, True], ids=["prefix", "replies-lost"])
@pytest.mark.parametrize("redo", ["restart", "retry"])
@pytest.mark.parametrize("similarity", ["cosine", "pearson"])
def test_item_cf_redoes_every_torn_prefix_exactly(
    engine_settings, monkeypatch, similarity, redo, lost
):
    """Failed before the copies of n went ahead of the histories: torn after 34 of 40
    commands, an item's copy 2 against its n 3, for good. With cosine the torn batch
    moves most rows from the worker's copies (set_cooccurrence.lua)."""
    config = dataclasses.replace(engine_settings.item_cf, similarity=similarity)
    url = engine_settings.redis.url
    whole, torn, from_copies = asyncio.run(item_cf(url, config, None, monkeypatch, redo))
    assert not torn and whole > 10  # the batch's apply: every item's script, users, copies
    assert from_copies > 5 if similarity == "cosine" else from_copies == 0

    def run(budget: int) -> tuple[int, bool]:
        sent, torn, _c = asyncio.run(item_cf(url, config, budget, monkeypatch, redo, lost))
        return sent, torn

    every_prefix(run, whole, lost)


def assert_copies_equal_state(client: redis.Redis, users: list[str], items: list[str]) -> None:
    """The published copies say what the fenced state says."""
    means, counts = client.hgetall(keys.user_means()), client.hgetall(keys.user_counts())
    n_all = s_all = 0.0
    for user in users:
        count, total = (float(v or 0) for v in client.hmget(keys.user_state(user), "count", "sum"))
        published = counts.get(user.encode())
        got = [float(x) for x in published.split()] if published else [0.0, 0.0]
        assert np.allclose(got, [count, total], atol=1e-9), (user, got, count, total)
        mean = means.get(user.encode())
        if count:
            assert mean is not None and np.isclose(float(mean), total / count), user
        else:
            assert mean is None, user
        n_all, s_all = n_all + count, s_all + total
    totals = client.hmget(keys.rating_totals(), "n", "s")
    assert np.allclose([float(v or 0) for v in totals], [n_all, s_all], atol=1e-9)
    copies = client.hgetall(keys.item_ratings())
    for item in items:
        rn, rs = (float(v or 0) for v in client.hmget(keys.item_fence(item), "rn", "rs"))
        published = copies.get(item.encode())
        got = [float(x) for x in published.split()] if published else [0.0, 0.0]
        assert np.allclose(got, [rn, rs], atol=1e-9), (item, got, rn, rs)


async def user_cf(
    url: str, budget: int | None, monkeypatch, lost: bool = False
) -> tuple[int, bool]:
    history, fan_out = 4, 5  # the caps on, as the hot-items test runs them
    rng = random.Random(17)
    users, items = [f"u{k}" for k in range(12)], [f"i{k}" for k in range(8)]
    stream = []
    for offset in range(5 * BATCH):
        delete = rng.random() < 0.15
        rating = None if delete else rng.choice([1.0, 2.5, 3.0, 4.0, 5.0])
        op = "delete" if delete else "upsert"
        stream.append((offset, RatingEvent(rng.choice(users), rng.choice(items), rating, 0.0, op)))
    batches = [stream[k : k + BATCH] for k in range(0, len(stream), BATCH)]
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    config = UserCFConfig(fan_out_cap=fan_out, history_cap=history)
    for batch in batches[:3]:
        await Engine(Store(client), config).apply_batch(portions(batch))
    torn = Torn(budget, lost)
    with monkeypatch.context() as patch:
        torn.install(patch)
        try:
            await Engine(Store(client), config).apply_batch(portions(batches[3]))
        except RedisConnectionError:
            assert torn.torn
    engine = Engine(Store(client), config)
    if torn.torn:  # the restarted worker reads the batch again: the fences skip what landed
        await engine.apply_batch(portions(batches[3]))
    sync = redis.Redis.from_url(url)
    try:
        for k, batch in enumerate(batches[3:5]):
            if k:
                await engine.apply_batch(portions(batch))
            ref = CappedReference(history, fan_out)
            for _o, e in (x for b in batches[: 4 + k] for x in b):
                ref.apply(e)
            assert_equals_reference(sync, ref, users)
            assert_copies_equal_state(sync, users, items)
    finally:
        sync.close()
        await client.aclose()
    return torn.sent, torn.torn


@pytest.mark.parametrize("lost", [False, True], ids=["prefix", "replies-lost"])
def test_user_cf_redoes_every_torn_prefix_exactly(engine_settings, monkeypatch, lost):
    """Failed before a batch published the means of its users with nothing left to
    apply: torn after 81 of 88 commands, a user's published count 5 against 4 stored."""
    url = engine_settings.redis.url
    whole, torn = asyncio.run(user_cf(url, None, monkeypatch))
    assert not torn and whole > 10
    every_prefix(lambda budget: asyncio.run(user_cf(url, budget, monkeypatch, lost)), whole, lost)


def snapshot(client: redis.Redis) -> dict[bytes, object]:
    """Every key's value, hashes as dicts (field order is not state)."""
    out: dict[bytes, object] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"hash":
            out[key] = client.hgetall(key)
        elif kind == b"string":
            out[key] = client.get(key)
        elif kind == b"set":
            out[key] = client.smembers(key)
        elif kind == b"zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            out[key] = kind
    return out


async def hybrid(settings, budget: int | None, monkeypatch) -> tuple[int, bool, dict]:
    client = aioredis.Redis.from_url(settings.redis.url)
    await client.flushdb()
    progress = Store(client)
    await progress.claim("t#hybrid", 0)

    def engine() -> HybridEngine:
        return HybridEngine(
            HybridStore(client), progress, settings.content, settings.embedding,
            settings.embedding.kind == "neural", 10,
        )  # fmt: skip

    _events, batches = user_portions(4)
    for portion in batches[:3]:
        await engine().apply_batch("t#hybrid", [portion], {})
    torn = Torn(budget)
    with monkeypatch.context() as patch:
        torn.install(patch)
        try:
            await engine().apply_batch("t#hybrid", [batches[3]], {})
        except RedisConnectionError:
            assert torn.torn
    if torn.torn:  # the restarted worker redoes the batch from its recorded plan
        plan = await progress.plan("t#hybrid", 0)
        await engine().apply_batch("t#hybrid", [batches[3]], {} if plan is None else {0: plan})
    state = snapshot(redis.Redis.from_url(settings.redis.url))
    await client.aclose()
    return torn.sent, torn.torn, state


def test_hybrid_redoes_every_torn_prefix_exactly(engine_settings, monkeypatch):
    """The reference is the same batches applied untorn: the plan is recorded, so a redo
    writes the very same values (a redo that planned again on the moved model would not:
    every user's row differs)."""
    whole, torn, want = asyncio.run(hybrid(engine_settings, None, monkeypatch))
    assert not torn and whole > 5

    def run(budget: int) -> tuple[int, bool]:
        sent, torn, got = asyncio.run(hybrid(engine_settings, budget, monkeypatch))
        differ = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
        assert not differ, differ[:5]
        return sent, torn

    every_prefix(run, whole)


def test_item_cf_redo_republishes_counts_the_g_server_lost(engine_settings, monkeypatch):
    """On a Redis Cluster the copies of n (``{g}``) and the users' histories live on
    different masters. If ``{g}``'s fails over to a replica that missed the batch's copies
    while the histories survived, the redo (its commit failed) expands no user, so only
    a republish from the fence hashes brings the copies back. Here on one server: the
    batch applied whole, its commit refused, ``{g}``'s hashes restored to before it."""

    async def run() -> None:
        client = aioredis.Redis.from_url(engine_settings.redis.url)
        await client.flushdb()
        progress = Store(client)
        await progress.claim("t#item", 0)
        config = engine_settings.item_cf
        events, batches = user_portions(4)
        engine = ItemEngine(ItemStore(client), progress, config)
        for portion in batches[:3]:
            await engine.apply_batch("t#item", [portion], {})
        g = [keys.item_counts(), keys.item_count_versions()]
        saved = [await client.dump(k) for k in g]

        async def refused(*_a, **_k):
            raise RedisConnectionError("the replica barrier failed: {g} failed over")

        with monkeypatch.context() as patch:
            patch.setattr(progress, "commit", refused)
            with pytest.raises(RedisConnectionError):
                await engine.apply_batch("t#item", [batches[3]], {})
        for name, value in zip(g, saved, strict=True):
            await client.restore(name, 0, value, replace=True)
        plan = await progress.plan("t#item", 0)
        assert plan is not None  # the intent stands: the batch is redone
        await engine.apply_batch("t#item", [batches[3]], {0: plan})
        sync = redis.Redis.from_url(engine_settings.redis.url)
        assert_cooccurrence_equals_reference(sync, events, config)
        sync.close()
        await client.aclose()

    asyncio.run(run())
