"""replace_ranking.lua with the longest lists the settings allow (10,000 entries): Lua's
``unpack`` stops near 8,000 values, so one ZADD of 2n arguments failed above ~4,000."""

from __future__ import annotations

import asyncio
from typing import get_type_hints

import pytest
import redis
import redis.asyncio as aioredis

from streams.algo.content import ContentConfig
from streams.algo.itemcf import ItemCFConfig
from streams.algo.usercf.recommend import stored_scores
from streams.state import keys
from streams.state.hybrid import HybridStore
from streams.state.itemcf import ItemStore

pytestmark = pytest.mark.integration

LONGEST = max(
    get_type_hints(config, include_extras=True)["similar_size"].__metadata__[-1].le
    for config in (ItemCFConfig, ContentConfig)
)


@pytest.fixture(scope="module")
def server(private_redis):
    return private_redis


def _ranked(n: int, prefix: str = "item") -> list[tuple[str, float]]:
    # ties included: the stored scores get the engine's tie-break
    return [(f"{prefix}-{j:05d}-é", float(n - j) // 3) for j in range(n)]


async def _write_similar(url: str, lists: dict[str, list[tuple[str, float]]]) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        await ItemStore(client).write_similar(lists)
    finally:
        await client.aclose()


def test_the_settings_allow_lists_longer_than_one_unpack():
    assert LONGEST == 10_000


def test_a_list_of_the_longest_allowed_size_is_written_whole(server):
    client = redis.Redis.from_url(server.url)
    ranked = _ranked(LONGEST)
    client.zadd(keys.item_similar("big"), {"stale-entry": 99.0})  # replaced, not merged
    asyncio.run(_write_similar(server.url, {"big": ranked, "small": ranked[:3]}))
    stored = client.zrevrange(keys.item_similar("big"), 0, -1, withscores=True)
    assert [(j.decode(), s) for j, s in stored] == stored_scores(ranked)
    assert client.zcard(keys.item_similar("small")) == 3


def test_a_list_with_reasons_of_the_longest_allowed_size_is_written_whole(server):
    client = redis.Redis.from_url(server.url)
    ranked = [(item, score, f"because-{k}") for k, (item, score) in enumerate(_ranked(LONGEST))]
    by_score = sorted(ranked, key=lambda entry: -entry[1])

    async def write() -> None:
        connection = aioredis.Redis.from_url(server.url)
        try:
            await ItemStore(connection).write_user_lists({"u1": by_score}, {"u1": 0.0})
        finally:
            await connection.aclose()

    asyncio.run(write())
    assert client.zcard(keys.user_item_topn("u1")) == LONGEST
    reasons = client.hgetall(keys.user_item_reasons("u1"))
    assert {k.decode(): v.decode() for k, v in reasons.items()} == {
        item: why for item, _s, why in ranked
    }


def test_the_hybrid_lists_of_the_longest_allowed_size_are_written_whole(server):
    client = redis.Redis.from_url(server.url)
    ranked = _ranked(LONGEST, "content")

    async def write() -> None:
        connection = aioredis.Redis.from_url(server.url)
        try:
            store = HybridStore(connection)
            await store.write_similar("content", {"c": ranked})
            await store.write_user_lists({"u2": ranked}, {"u2": ranked[:10]}, {"u2": 0.0})
        finally:
            await connection.aclose()

    asyncio.run(write())
    assert client.zcard(keys.item_similar_content("c")) == LONGEST
    assert client.zcard(keys.user_content_topn("u2")) == LONGEST
    assert client.zcard(keys.user_embedding_topn("u2")) == 10


def test_an_empty_list_removes_the_old_one(server):
    client = redis.Redis.from_url(server.url)
    client.zadd(keys.item_similar("gone"), {"x": 1.0})
    asyncio.run(_write_similar(server.url, {"gone": []}))
    assert not client.exists(keys.item_similar("gone"))
