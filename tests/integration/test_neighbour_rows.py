"""The worker's copies of its neighbours' ratings (``NeighbourRatings``) moved forward by
its own batches, on a real redis-server: a redo of a partition another worker already
applied must not move a copy, since the version it returns carries that worker's other
partitions too."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from streams.algo.usercf import UserCFConfig
from streams.engines.usercf import Engine
from streams.schemas.ratings import RatingEvent
from streams.state import keys
from streams.state.codecs import text
from streams.state.usercf import Store
from tests.integration.test_hot_items import portions
from tests.unit.test_caps import partition_of

pytestmark = pytest.mark.integration


class Crashed(Exception):
    """The other worker dies after its users' sums, before its items' raters."""


def two_partitions() -> tuple[str, str, str, str]:
    """Two items of one by-item partition and two of another."""
    by: dict[int, list[str]] = {}
    for k in range(200):
        by.setdefault(partition_of(f"i{k}"), []).append(f"i{k}")
    (a, b), (c, d) = (sorted(v)[:2] for _p, v in sorted(by.items())[:2])
    return a, b, c, d


def test_a_redo_of_another_workers_batch_does_not_move_the_copy(engine_settings, monkeypatch):
    p1, p2, q1, q2 = two_partitions()
    first = [(0, RatingEvent("u", p1, 4.0, 0.0)), (1, RatingEvent("u", q1, 2.0, 0.0))]
    first += [(2, RatingEvent("v", p1, 3.0, 0.0)), (3, RatingEvent("v", q1, 5.0, 0.0))]
    second = [(4, RatingEvent("u", p2, 1.0, 0.0)), (5, RatingEvent("u", q2, 5.0, 0.0))]

    async def go():
        client = aioredis.Redis.from_url(engine_settings.redis.url)
        await client.flushdb()
        mine, theirs = Engine(Store(client), UserCFConfig()), Engine(Store(client), UserCFConfig())
        await mine.apply_batch(portions(first))
        await mine.neighbours.of(["u"])  # u's ratings kept, at u's version
        with monkeypatch.context() as patch:

            async def crash(*_a, **_k):
                raise Crashed

            patch.setattr(theirs.store, "apply_items", crash)
            with pytest.raises(Crashed):  # u's both partitions applied in one call: ver + 1
                await theirs.apply_batch(portions(second))
        redo = [p for p in portions(second) if p.partition == partition_of(p2)]
        await mine.apply_batch(redo)  # the first partition again: u's fence skips it
        got = (await mine.neighbours.of(["u"]))["u"]
        stored = await client.hgetall(keys.user_ratings("u"))
        await client.aclose()
        return dict(zip(got.items, got.values.tolist(), strict=True)), stored

    got, stored = asyncio.run(go())
    assert got == {text(i): float(r) for i, r in stored.items()}
    assert got == {p1: 4.0, q1: 2.0, p2: 1.0, q2: 5.0}
