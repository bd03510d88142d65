"""The Redis toolkit every store shares: its Lua scripts, many hashes in one round trip,
rankings replaced in one pipeline."""

from __future__ import annotations

import json
import os
import time
import uuid
from importlib import resources
from typing import Any, ClassVar

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from streams.algo.usercf.recommend import stored_scores
from streams.state import keys
from streams.state.codecs import decode_ranking, encode_ranking, pack_ids, text


def script(name: str) -> str:
    """A Lua script with the shared helpers of lib.lua before it (one copy of each idea:
    packed ids, many fields per command)."""
    lua = resources.files("streams.state.lua")
    return lua.joinpath("lib.lua").read_text() + lua.joinpath(name).read_text()


async def hgetall_many(client: aioredis.Redis, names: list[str]) -> list[dict[Any, Any]]:
    """HGETALL of many hashes in one round trip."""
    async with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(name)
        return await pipe.execute()


async def item_metas(
    client: aioredis.Redis, items: list[str]
) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """(title, attributes) of each item the catalogue describes, in one round trip."""
    async with client.pipeline(transaction=False) as pipe:
        for item in items:
            pipe.hmget(keys.item_meta(item), ["title", "attributes"])
        rows = await pipe.execute()
    return {
        item: (
            title.decode() if title is not None else None,
            json.loads(attributes) if attributes else {},
        )
        for item, (title, attributes) in zip(items, rows, strict=True)
        if title is not None or attributes is not None
    }


async def hash_values(
    client: aioredis.Redis, name: str, fields: list[Any], cast: Any
) -> dict[Any, Any]:
    """``cast`` of the fields of one hash that exist, keyed as asked (str or bytes)."""
    if not fields:
        return {}
    values = await client.hmget(name, fields)
    return {f: cast(v) for f, v in zip(fields, values, strict=True) if v is not None}


async def write_rankings(
    client: aioredis.Redis, replace: Any, rankings: dict[str, list[tuple[str, float]]]
) -> None:
    """Replace each sorted set (key → ranked (id, score)) in one pipelined round trip;
    ``replace`` is the registered replace_ranking.lua. Scores get the engine's tie-break."""
    async with client.pipeline(transaction=False) as pipe:
        for key, listed in rankings.items():
            ranked = stored_scores(listed)
            scores = np.array([s for _j, s in ranked], dtype="<f8").tobytes()
            await replace(
                keys=[key], args=[*pack_ids([j for j, _s in ranked]), scores], client=pipe
            )
        await pipe.execute()


async def write_similar_lists(
    client: aioredis.Redis, lists: dict[str, list[tuple[str, float]]]
) -> None:
    """Replace each similar list (key → ranked (id, score)) in one round trip: one SET of
    its JSON value (``codecs.encode_ranking``); an empty list removes the key."""
    async with client.pipeline(transaction=False) as pipe:
        for key, ranked in lists.items():
            if ranked:
                pipe.set(key, encode_ranking(ranked))
            else:
                pipe.delete(key)
        await pipe.execute()


async def read_similar_lists(
    client: aioredis.Redis, names: list[str], n: int | None = None
) -> list[list[tuple[str, float]]]:
    """The first ``n`` entries of each similar list, in one round trip. A list that a
    release before 0.3 wrote as a sorted set (WRONGTYPE for GET) is read as one, until
    the worker rewrites it: an upgrade needs no rebuild."""
    async with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.get(name)
        raw = await pipe.execute(raise_on_error=False)
    legacy = [k for k, value in enumerate(raw) if isinstance(value, ResponseError)]
    for value in raw:  # any other failure in place of a reply (a cluster node gone) too
        if isinstance(value, Exception) and "WRONGTYPE" not in str(value):
            raise value
    out = [[] if k in legacy else decode_ranking(value, n) for k, value in enumerate(raw)]
    if legacy:
        async with client.pipeline(transaction=False) as pipe:
            for k in legacy:
                pipe.zrevrange(names[k], 0, -1 if n is None else n - 1, withscores=True)
            for k, rows in zip(legacy, await pipe.execute(), strict=True):
                out[k] = [(text(j), float(s)) for j, s in rows]
    return out


class Busy:
    """A refresher or fuser round in progress, for ``wait-idle``: marked before the round
    pops its users, cleared after its writes (``keys.lists_busy``). A round of a process
    that died stops counting after ``BUSY_FOR_S``."""

    BUSY_FOR_S = 60.0
    # marks whose clearing failed (Redis went away mid-round): cleared with the next
    # round's, else a failover would hold wait-idle for BUSY_FOR_S
    left_behind: ClassVar[set[str]] = set()

    def __init__(self, client: aioredis.Redis, kind: str) -> None:
        self.redis = client
        # the kind first (keys.REFRESH_ROUND, keys.FUSE_ROUND): wait-idle tells the
        # sweep's rounds apart
        self.token = f"{kind}:{os.getpid()}:{uuid.uuid4().hex}"

    async def __aenter__(self) -> Busy:
        await self.redis.zadd(keys.lists_busy(), {self.token: time.time() + self.BUSY_FOR_S})
        return self

    async def __aexit__(self, *_exc: object) -> None:
        stale = set(Busy.left_behind)
        try:
            await self.redis.zrem(keys.lists_busy(), self.token, *stale)
        except RedisError:
            Busy.left_behind.add(self.token)
            raise
        Busy.left_behind -= stale
