"""The worker's lean Redis client against a real Redis: every kind of reply reads back as
redis-py's own client reads it, a reply still on its way is waited for, and the socket
timeout still ends a wait on a silent server."""

from __future__ import annotations

import asyncio

import pytest
from redis import asyncio as aioredis
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streams.state.connection import LeanConnection, connect

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(private_redis):
    return private_redis


def queue(pipe: aioredis.client.Pipeline) -> None:
    pipe.set("s", 1.25)
    pipe.hset("h", mapping={"a": 1, "b": b"\x00\xff", "c": "é"})
    pipe.hgetall("h")
    pipe.hmget("h", "a", "missing", "c")
    pipe.zadd("z", {"m": 0.5, "n": 2.0})
    pipe.zrange("z", 0, -1, withscores=True)
    pipe.incr("h")  # an error reply in the middle of the pipeline
    pipe.get("missing")
    pipe.eval("return {1, 'two', {3}}", 0)
    pipe.set("big", b"x" * 3_000_000)  # a reply the reader takes in many socket reads
    pipe.get("big")
    pipe.exists("s", "h", "nothing")


def test_every_reply_reads_back_as_redis_pys_client_reads_it(server):
    async def run(client: aioredis.Redis) -> list:
        await client.flushdb()
        pipe = client.pipeline(transaction=False)
        queue(pipe)
        replies = await pipe.execute(raise_on_error=False)
        single = [await client.hgetall("h"), await client.get("big"), await client.ping()]
        with pytest.raises(ResponseError, match=r"WRONGTYPE|not an integer"):
            await client.incr("h")
        pooled = client.connection_pool.connection_class
        await client.aclose()
        return [pooled, [repr(r) if isinstance(r, Exception) else r for r in replies], single]

    lean_class, lean, lean_single = asyncio.run(run(connect(server.url)))
    stock_class, stock, stock_single = asyncio.run(run(aioredis.Redis.from_url(server.url)))
    assert lean_class is LeanConnection and stock_class is not LeanConnection
    assert lean == stock and lean_single == stock_single
    assert "ResponseError" in lean[6] and lean[10] == b"x" * 3_000_000


def test_the_socket_timeout_still_ends_a_wait_on_a_silent_server(server):
    async def run() -> None:
        client = connect(server.url, socket_timeout=0.2)
        try:
            with pytest.raises(RedisTimeoutError):
                await client.blpop(["nothing-ever"], timeout=2)  # the server answers in 2 s
        finally:
            await client.aclose()
        after = connect(server.url)
        assert await after.ping()
        await after.aclose()

    asyncio.run(run())
