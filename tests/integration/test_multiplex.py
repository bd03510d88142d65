"""The reader's multiplexed Redis connection against a real Redis: concurrent commands
get their own replies, errors are redis-py's, a lost or silent server fails the waiting
commands (a 503 upstream) and the next command reconnects."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.multiplex import Multiplexed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(private_redis):
    return private_redis


def test_concurrent_commands_each_get_their_own_reply(server):
    client = redis.Redis.from_url(server.url.rsplit("/", 1)[0] + "/3")
    client.mset({f"k{n}": f"v{n}" * (n % 7 + 1) for n in range(2000)})

    async def run() -> list[bytes]:
        mux = Multiplexed(server.url.rsplit("/", 1)[0] + "/3")
        try:
            return await asyncio.gather(*(mux.execute("GET", f"k{n}") for n in range(2000)))
        finally:
            await mux.close()

    assert asyncio.run(run()) == [f"v{n}".encode() * (n % 7 + 1) for n in range(2000)]


def test_an_error_reply_is_a_response_error_and_the_next_command_still_works(server):
    async def run() -> bytes:
        mux = Multiplexed(server.url)
        try:
            with pytest.raises(ResponseError):
                await mux.execute("NOSUCHCOMMAND")
            return await mux.execute("PING")
        finally:
            await mux.close()

    assert asyncio.run(run()) == b"PONG"


def test_a_killed_connection_fails_its_commands_and_the_next_one_reconnects(server):
    async def run() -> bytes:
        mux = Multiplexed(server.url)
        try:
            name = f"mux-{id(mux)}"
            await mux.execute("CLIENT", "SETNAME", name)
            admin = redis.Redis.from_url(server.url)
            admin.client_kill_filter(_type="normal", skipme=True)  # every client but admin
            with pytest.raises(RedisConnectionError):
                await mux.execute("BLPOP", "nothing-ever", 5)
            return await mux.execute("PING")
        finally:
            await mux.close()

    assert asyncio.run(run()) == b"PONG"


def test_a_server_that_never_answers_times_out():
    async def run() -> None:
        silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        mux = Multiplexed(f"redis://127.0.0.1:{port}/0", timeout_s=0.5)
        try:
            started = asyncio.get_running_loop().time()
            with pytest.raises(RedisTimeoutError):
                await mux.execute("PING")
            assert asyncio.get_running_loop().time() - started < 5
        finally:
            await mux.close()
            silent.close()

    asyncio.run(run())
