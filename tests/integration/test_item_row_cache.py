"""The worker's copies of co-occurrence rows against the real Redis, with two writers.

Two item-to-item engines (two workers, each with its own copies) apply interleaved batches
of the same few items, and one batch is applied a second time (a redo the fences skip).
After every batch, every row the engine would re-score from its copy must equal the row a
fresh read gives: a copy that missed the other writer's batch would differ."""

import asyncio
import zlib
from collections import defaultdict

import pytest
import redis.asyncio as aioredis

from streams.datasets.synthetic import SyntheticSpec, generate
from streams.engines.itemcf import ItemEngine, UserEvent, UserPortion
from streams.state import keys
from streams.state.itemcf import ItemStore
from streams.state.usercf import Store

pytestmark = pytest.mark.integration

PROGRESS = "ratings#item"


def named(store: ItemStore, rows: dict) -> dict[str, dict[bytes, int]]:
    return {
        item: dict(zip((store.ids.names[k] for k in ps.tolist()), co.tolist(), strict=True))
        for item, (ps, co) in rows.items()
    }


async def scenario(url: str, partitions: int, config) -> tuple[int, int, int]:
    client = aioredis.Redis.from_url(url)
    progress = Store(client)
    for p in range(partitions):
        await progress.claim(PROGRESS, p)
    engines = [ItemEngine(ItemStore(client), progress, config) for _ in range(2)]
    applied: dict[int, list] = {}  # engine → the last batch's expanded deltas, to redo
    for k, engine in enumerate(engines):
        apply = engine.store.apply

        async def keep(portions, with_sums=False, k=k, apply=apply):
            applied[k] = [portions, apply]
            await apply(portions, with_sums)

        engine.store.apply = keep  # type: ignore[method-assign]
    spec = SyntheticSpec(events=1_500, users=40, items=25, rerate_share=0.15, delete_share=0.1)
    events = list(generate(spec))
    offsets = [0] * partitions
    pending: list[dict[int, list[UserEvent]]] = [defaultdict(list), defaultdict(list)]
    compared = redone = 0
    for number, lo in enumerate(range(0, len(events), 60)):
        for e in events[lo : lo + 60]:
            p = zlib.crc32(e.user_id.encode()) % partitions
            ev = UserEvent(e.user_id, e.item_id, e.rating, offsets[p], 0.0)
            pending[p % 2][p].append(ev)  # engine k owns the partitions p % 2 == k
            offsets[p] += 1
        for k, engine in enumerate(engines):
            if k == 1 and number % 4:  # the second writer comes in every fourth batch
                continue
            portions = [
                UserPortion(p, units[-1].offset, units) for p, units in sorted(pending[k].items())
            ]
            pending[k].clear()
            if not portions:
                continue
            result = await engine.apply_batch(PROGRESS, portions, {})
            if number % 7 == 3:  # the same writes again: every item's fence skips them
                portions_applied, apply = applied[k]
                await apply(portions_applied, False)
                redone += 1
            items = sorted(result.rated)
            got = named(engine.store, await engine.store.rows(items))
            fresh = ItemStore(client)
            assert got == named(fresh, await fresh.rows(items))
            compared += len(engine.store.current & set(items))
            await engine.finish(result)
    # an item rated with no delta (the delete of a rating that never was): no reply proves
    # the first engine's copy, which the second writer has made stale, so it is read again
    first = engines[0]
    versions = {
        item: int(await client.hget(keys.item_fence(item), "v") or 0)
        for item in first.store.cache.rows
    }
    stale = sorted(i for i, row in first.store.cache.rows.items() if row.version != versions[i])
    assert stale
    ghost = next(f"ghost-{n}" for n in range(100) if zlib.crc32(f"ghost-{n}".encode()) % 2 == 0)
    p = zlib.crc32(ghost.encode()) % partitions
    result = await first.apply_batch(
        PROGRESS,
        [UserPortion(p, offsets[p], [UserEvent(ghost, stale[0], None, offsets[p], 0.0)])],
        {},
    )
    assert result.rated == {stale[0]}
    fresh = ItemStore(client)
    assert named(first.store, await first.store.rows(stale[:1])) == named(
        fresh, await fresh.rows(stale[:1])
    )
    dropped = sum(e.store.cache.dropped for e in engines)
    await client.aclose()
    return compared, dropped, redone


def test_copies_equal_redis_with_two_writers_and_a_redo(engine_settings):
    settings = engine_settings
    compared, dropped, redone = asyncio.run(
        scenario(settings.redis.url, settings.topics.ratings_partitions, settings.item_cf)
    )
    assert compared > 100  # rows were served from copies ...
    assert dropped > 10  # ... and the other writer made copies stale, which were dropped
    assert redone > 0


def test_a_copy_whose_version_was_reached_by_another_history_is_refused(engine_settings):
    """Redis loses a batch under a worker that holds the row (a restore), and another
    writer counts the row's version up again with a different batch: same version, same
    length, other content. The copy must be refused (its last batch differs), else the
    partner both touched would be written from the lost history."""

    async def run() -> tuple[dict[bytes, bytes], int]:
        client = aioredis.Redis.from_url(engine_settings.redis.url)
        progress = Store(client)
        for p in (0, 1):
            await progress.claim(PROGRESS, p)
        config = engine_settings.item_cf
        a, b = (ItemEngine(ItemStore(client), progress, config) for _k in range(2))

        async def batch(engine: ItemEngine, p: int, events: list[tuple[str, str, int]]) -> None:
            units = [UserEvent(u, i, 4.0, o, 0.0) for u, i, o in events]
            await engine.finish(
                await engine.apply_batch(PROGRESS, [UserPortion(p, units[-1].offset, units)], {})
            )

        await batch(a, 0, [("u0", "X", 0), ("u0", "a", 1)])  # X = {a: 1}, held by a
        names = [keys.item_cooccurrence("X"), keys.item_fence("X")]
        saved = [await client.dump(k) for k in names]
        await batch(a, 0, [("u1", "X", 2), ("u1", "b", 3)])  # X = {a: 1, b: 1}, from a's copy
        for name, value in zip(names, saved, strict=True):  # that batch lost
            await client.restore(name, 0, value, replace=True)
        await batch(b, 1, [("u2", "X", 0), ("u2", "c", 1)])  # X = {a: 1, c: 1}, same version
        await batch(a, 0, [("u3", "X", 4), ("u3", "b", 5)])  # b: + 1 on what Redis holds
        row = await client.hgetall(keys.item_cooccurrence("X"))
        refused = a.store.rows_refused
        await client.aclose()
        return row, refused

    row, refused = asyncio.run(run())
    assert refused >= 1
    assert row == {b"a": b"1", b"c": b"1", b"b": b"1"}
