"""The progress interface: the Redis store and the in-memory one keep the same contract,
so what the cutter's unit tests show with one holds with the other."""

from __future__ import annotations

import asyncio

import pytest

from streams.state.memory import MemoryProgress
from streams.state.progress import Progress, ProgressStore


async def _contract(store: Progress, name: str) -> None:
    assert await store.progress(name, 0) == (-1, -1)
    assert await store.plan(name, 0) is None
    await store.begin(name, {0: 9, 1: 4}, {0: "plan-0"})
    assert await store.progress(name, 0) == (-1, 9)
    assert await store.progress(name, 1) == (-1, 4)
    assert await store.plan(name, 0) == "plan-0"
    assert await store.plan(name, 1) is None
    await store.begin(name, {0: 9}, {0: b"plan-0b"})  # a retried begin overwrites
    assert await store.plan(name, 0) == "plan-0b"
    await store.commit(name, {0: 9})
    assert await store.progress(name, 0) == (9, -1)
    assert await store.plan(name, 0) is None
    assert await store.progress(name, 1) == (-1, 4)  # untouched by another's commit
    assert await store.progress(f"{name}#other", 0) == (-1, -1)  # one store per path


def test_memory_progress_keeps_the_contract():
    asyncio.run(_contract(MemoryProgress(), "ratings#x"))


@pytest.mark.integration
def test_redis_progress_keeps_the_contract(engine_settings):
    import redis.asyncio as aioredis

    async def main() -> None:
        client = aioredis.Redis.from_url(engine_settings.redis.url)
        try:
            await _contract(ProgressStore(client), f"{engine_settings.app_id}.ratings#x")
        finally:
            await client.aclose()

    asyncio.run(main())
