"""The progress interface: the Redis store and the in-memory one keep the same contract,
so what the cutter's unit tests show with one holds with the other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.exceptions import RedisError

from streams.state.memory import MemoryProgress
from streams.state.progress import Progress, ProgressStore, StaleOwner


async def _contract(store: Progress, name: str) -> None:
    assert await store.progress(name, 0) == (-1, -1)
    assert await store.plan(name, 0) is None
    assert await store.claim(name, 0) == (-1, -1)
    assert await store.claim(name, 1) == (-1, -1)
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
    assert await store.claim(name, 1) == (-1, 4)  # a claim reads the intent to redo


async def _fencing(old: Progress, new: Progress, name: str) -> None:
    """``old`` and ``new``: two processes on the same state (two workers)."""
    assert not issubclass(StaleOwner, RedisError)  # through_outages must not retry it
    with pytest.raises(StaleOwner) as never:  # no token held: refused, nothing written
        await old.begin(name, {0: 3})
    assert never.value.partitions == [0] and never.value.stage == "begin"
    assert await old.progress(name, 0) == (-1, -1)
    assert not old.holds(name, 0)
    await old.claim(name, 0)
    await old.claim(name, 1)
    assert old.holds(name, 0) and not new.holds(name, 0)
    await old.begin(name, {0: 5, 1: 2}, {0: "old-plan"})
    await old.commit(name, {1: 2})
    # old is paused past its session timeout; new claims both and redoes the intent
    assert await new.claim(name, 0) == (-1, 5)
    assert await new.claim(name, 1) == (2, -1)
    with pytest.raises(StaleOwner) as refused:
        await old.begin(name, {0: 7}, {0: "late"})
    assert refused.value.partitions == [0]
    assert await old.progress(name, 0) == (-1, 5) and await old.plan(name, 0) == "old-plan"
    await new.begin(name, {0: 5}, {0: "old-plan"})
    await new.commit(name, {0: 5})
    await new.begin(name, {0: 11, 1: 8}, {0: "new-plan"})
    with pytest.raises(StaleOwner) as refused:  # old wakes up and commits its batch
        await old.commit(name, {0: 5, 1: 3})
    assert refused.value.partitions == [0, 1] and refused.value.stage == "commit"
    assert await new.progress(name, 0) == (5, 11)  # the new owner's intent intact
    assert await new.plan(name, 0) == "new-plan"
    assert await new.progress(name, 1) == (2, 8)
    await new.commit(name, {0: 11, 1: 8})
    await new.commit(name, {0: 7})  # even the owner never moves a fence backwards
    assert await new.progress(name, 0) == (11, -1)
    # partly refused: the partitions still held are recorded, the others named
    await old.claim(name, 2)
    with pytest.raises(StaleOwner) as refused:
        await old.begin(name, {1: 9, 2: 4})
    assert refused.value.partitions == [1]
    assert await old.progress(name, 2) == (-1, 4)
    old.forget_token(name, 2)  # revoked: refused from now on, as never claimed
    assert not old.holds(name, 2)
    with pytest.raises(StaleOwner):
        await old.commit(name, {2: 4})
    assert await old.progress(name, 2) == (-1, 4)


def test_memory_progress_keeps_the_contract():
    asyncio.run(_contract(MemoryProgress(), "ratings#x"))


def test_memory_progress_refuses_a_stale_owner():
    old = MemoryProgress()
    asyncio.run(_fencing(old, old.another_process(), "ratings#x"))


def _on_redis(engine_settings, check: Callable[..., object], processes: int) -> None:
    import redis.asyncio as aioredis

    async def main() -> None:
        client = aioredis.Redis.from_url(engine_settings.redis.url)
        try:  # each ProgressStore keeps its own tokens: one per worker process
            stores = [ProgressStore(client) for _ in range(processes)]
            await check(*stores, f"{engine_settings.app_id}.ratings#x")  # type: ignore[misc]
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.integration
def test_redis_progress_keeps_the_contract(engine_settings):
    _on_redis(engine_settings, _contract, 1)


@pytest.mark.integration
def test_redis_progress_refuses_a_stale_owner(engine_settings):
    _on_redis(engine_settings, _fencing, 2)
