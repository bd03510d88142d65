"""The served list against real Redis: a fusion that read older source lists never
overwrites one that read newer lists, whatever order the two writes land in."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from streams.engines.served import Fuser
from streams.settings import BlendSettings
from streams.state import keys
from streams.state.itemcf import ItemStore
from streams.state.served import FuseInputs, ServedStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(private_redis):
    return private_redis


class Paused(ServedStore):
    """Holds the first fusion between its read and its write, as a slow worker would."""

    def __init__(self, client: aioredis.Redis, hold: asyncio.Event) -> None:
        super().__init__(client)
        self.hold, self.read_done = hold, asyncio.Event()

    async def inputs(self, users: list[str], depth: int, popular: list[str]) -> list[FuseInputs]:
        found = await super().inputs(users, depth, popular)
        self.read_done.set()
        await self.hold.wait()
        return found


def _items(doc: bytes) -> list[str]:
    return [item["item_id"] for item in json.loads(doc)["items"]]


async def _race(url: str, conditional: bool) -> tuple[list[str], int]:
    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
        writer = ItemStore(client)
        writer.mark_served = True
        weights = BlendSettings().weights()
        await client.hset(keys.user_state("u"), "count", 3)
        await writer.write_user_lists({"u": [("old", 1.0, "x")]}, {"u": 1.0})
        hold = asyncio.Event()
        slow = Fuser(Paused(client, hold), weights, 10)
        fast = Fuser(ServedStore(client), weights, 10)
        if not conditional:  # the store as it would be without the version check
            slow.store.write = _unconditional(client)  # type: ignore[method-assign]
        first = asyncio.create_task(slow.fuse(["u"]))
        await slow.store.read_done.wait()  # type: ignore[attr-defined]
        await writer.write_user_lists({"u": [("new", 1.0, "x")]}, {"u": 2.0})
        await fast.fuse(["u"])  # the newer lists, stored first
        hold.set()
        written = await first  # the older fusion lands last
        doc = await client.hget(keys.user_served("u"), "doc")
        return _items(doc), written
    finally:
        await client.aclose()


def _unconditional(client: aioredis.Redis):
    async def write(served: list[tuple[str, int, bytes, bytes]]) -> int:
        for user, version, doc, ends in served:
            fields = {"v": version, "doc": doc, "ends": ends}
            await client.hset(keys.user_served(user), mapping=fields)
        return len(served)

    return write


def test_an_older_fusion_landing_last_is_refused(server):
    items, written = asyncio.run(_race(server.url, conditional=True))
    assert written == 0 and items == ["new"]


def test_without_the_version_check_the_older_fusion_would_win(server):
    """The race above does happen: unguarded, the stale list stays served."""
    items, written = asyncio.run(_race(server.url, conditional=False))
    assert written == 1 and items == ["old"]
