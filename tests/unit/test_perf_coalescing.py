"""Pair sums coalesced over the whole batch (one row per pair, whatever the partitions)
give the same state as per portion, and a batch redone after a crash (some portions of a
user applied, others not) falls back to per-portion sums and still counts each once.
On the real Redis, the engine driven directly."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from streams.algo.usercf import UserCFConfig
from streams.algo.usercf.coalesce import coalesce
from streams.algo.usercf.expansion import BatchDeltas, ItemRaters, expand_item_events
from streams.engines.usercf import ByItemEvent, Engine, Portion
from streams.state import keys
from streams.state.codecs import decode_pairs
from streams.state.usercf import Store

PARTITIONS = 4


def batch(rng: random.Random, offset: int, size: int) -> list[Portion]:
    """Twelve users rating 30 items (each item's partition = its number mod 4), with
    re-ratings and deletes: most users have co-ratings in several partitions."""
    by: dict[int, list[ByItemEvent]] = {}
    for k in range(size):
        item = rng.randrange(30)
        rating = None if rng.random() < 0.1 else float(rng.randint(1, 5))
        event = ByItemEvent(f"u{rng.randrange(12)}", f"i{item}", rating, offset + k, 1.6e9, 0.0)
        by.setdefault(item % PARTITIONS, []).append(event)
    return [Portion(p, offset + size, evs) for p, evs in sorted(by.items())]


def state(client: redis.Redis) -> dict[str, tuple]:
    out = {}
    for u in (f"u{k}" for k in range(12)):
        partners, sums = decode_pairs(client.hgetall(keys.user_pairs(u)))
        order = np.argsort(partners)
        stats = client.hmget(keys.user_state(u), ["count", "sum", "sumsq"])
        ratings = client.hgetall(keys.user_ratings(u))
        counts = [float(x or 0) for x in stats]
        out[u] = ([partners[k] for k in order], sums[order], counts, ratings)
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for u in a:
        assert a[u][0] == b[u][0], u
        assert np.allclose(a[u][1], b[u][1], atol=1e-9), u
        assert np.allclose(a[u][2], b[u][2], atol=1e-9), u
        assert a[u][3] == b[u][3], u


def row_by_row(parts: list[BatchDeltas]) -> dict[tuple[str, str], np.ndarray]:
    """The from-scratch sum: every (user, partner) row the expansion emitted, added."""
    out: dict[tuple[str, str], np.ndarray] = {}
    for d in parts:
        dest, partner, rows = d.rows()
        for a, b, row in zip(dest.tolist(), partner.tolist(), rows, strict=True):
            key = (d.names[a], d.names[b])
            out[key] = out.get(key, 0) + row
    return out


@pytest.mark.parametrize("dense_bins", [1 << 22, 0])  # a bin per possible pair, or present
def test_whole_batch_coalescing_sums_the_portions(monkeypatch, dense_bins):
    monkeypatch.setattr("streams.algo.usercf.coalesce.DENSE_BINS", dense_bins)
    rng = random.Random(3)
    parts = []
    for p in range(3):
        deltas = BatchDeltas()
        for item in range(6):
            events = [(f"u{rng.randrange(9)}", float(rng.randint(1, 5)), k) for k in range(7)]
            expand_item_events(f"i{p}.{item}", ItemRaters.empty(), events, deltas)
        parts.append(deltas)
    expected = row_by_row(parts)
    whole = coalesce(parts)
    got = {(u, v): row for u, (ps, s) in whole.items() for v, row in zip(ps, s, strict=True)}
    assert got.keys() == expected.keys()
    assert all(np.allclose(got[k], expected[k]) for k in got)
    for u, (partners, _s) in whole.items():  # one row per pair
        assert len(set(partners)) == len(partners), u
    assert len(got) < sum(len(ps) for d in parts for ps, _s in coalesce([d]).values())


async def _replay(url: str, batches: list[list[Portion]], crash_after_users: int | None) -> int:
    """Apply the batches; with ``crash_after_users`` = k, batch k's first half of portions
    is applied to the users only (a crash before its items), then the whole batch again."""
    engine = Engine(Store(aioredis.Redis.from_url(url)), UserCFConfig())
    splits = 0
    original = engine.store._apply_users

    async def counting(users, portions, pairs, whole, means, k):
        nonlocal splits
        splits += 0 if whole else len(users)
        return await original(users, portions, pairs, whole, means, k)

    engine.store._apply_users = counting  # type: ignore[method-assign]
    for n, portions in enumerate(batches):
        if n == crash_after_users:
            items = engine.store.apply_items

            async def crash(_portions, _moves=None):
                raise ConnectionError("killed")

            engine.store.apply_items = crash  # type: ignore[method-assign]
            with pytest.raises(ConnectionError):
                await engine.apply_batch(portions[: len(portions) // 2])
            engine.store.apply_items = items  # type: ignore[method-assign]
        await engine.apply_batch(portions)
    await engine.store.redis.aclose()
    return splits


def test_a_redone_partition_falls_back_to_per_portion_sums(engine_settings):
    url = engine_settings.redis.url
    client = redis.Redis.from_url(url)
    rng = random.Random(7)
    batches, offset = [], 0
    for size in (60, 80, 80, 40):
        batches.append(batch(rng, offset, size))
        offset += size
    client.flushdb()
    assert asyncio.run(_replay(url, batches, None)) == 0  # no redo: whole-batch sums only
    clean = state(client)
    client.flushdb()
    assert asyncio.run(_replay(url, batches, 2)) > 0  # the redo took the per-portion path
    assert_same(state(client), clean)
