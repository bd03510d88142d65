"""Lists of the longest size the settings allow (10,000 entries): users' lists through
replace_ranking.lua (Lua's ``unpack`` stops near 8,000 values, so one ZADD of 2n arguments
failed above ~4,000), similar lists as one JSON value each; and a similar list an older
release left as a sorted set is still read."""

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
from streams.state.codecs import decode_ranking
from streams.state.hybrid import HybridStore
from streams.state.itemcf import ItemStore
from streams.state.toolkit import read_similar_lists

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
    assert client.type(keys.item_similar("big")) == b"string"
    assert decode_ranking(client.get(keys.item_similar("big"))) == ranked  # ties kept in order
    assert decode_ranking(client.get(keys.item_similar("small"))) == ranked[:3]


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
    assert decode_ranking(client.get(keys.item_similar_content("c"))) == ranked
    assert client.zcard(keys.user_content_topn("u2")) == LONGEST
    assert client.zcard(keys.user_embedding_topn("u2")) == 10


def test_an_empty_list_removes_the_old_one(server):
    client = redis.Redis.from_url(server.url)
    client.zadd(keys.item_similar("gone"), {"x": 1.0})
    asyncio.run(_write_similar(server.url, {"gone": []}))
    assert not client.exists(keys.item_similar("gone"))


def test_a_similar_list_left_as_a_sorted_set_is_read_until_rewritten(server):
    """Before 0.3 similar lists were sorted sets: an upgraded worker or reader reads them
    (GET answers WRONGTYPE) until the worker rewrites the item's list."""
    client = redis.Redis.from_url(server.url)
    ranked = _ranked(30)
    client.delete(keys.item_similar("old"), keys.item_similar("new"))
    client.zadd(keys.item_similar("old"), dict(stored_scores(ranked)))
    asyncio.run(_write_similar(server.url, {"new": ranked[:5]}))

    async def read() -> list[list[tuple[str, float]]]:
        connection = aioredis.Redis.from_url(server.url)
        try:
            names = [keys.item_similar(i) for i in ("new", "old", "none")]
            return await read_similar_lists(connection, names, 10)
        finally:
            await connection.aclose()

    new, old, none = asyncio.run(read())
    assert new == ranked[:5] and none == []
    assert [j for j, _s in old] == [j for j, _s in ranked[:10]]
    asyncio.run(_write_similar(server.url, {"old": ranked[:2]}))
    assert decode_ranking(client.get(keys.item_similar("old"))) == ranked[:2]
