"""The progress interface: the Redis store and the in-memory one keep the same contract,
so what the cutter's unit tests show with one holds with the other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from redis.exceptions import RedisError

from streams.state import keys
from streams.state.memory import MemoryProgress
from streams.state.progress import LostWrites, Progress, ProgressStore, ServerChanged, StaleOwner


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


async def _lost_writes(store: Progress, other: Progress, name: str, server: Any) -> None:
    """``server``: ``snapshot()`` of what a replica holds, ``fail_over(snapshot)``: it
    becomes the server (everything written since is lost, the run id changes)."""
    assert not issubclass(LostWrites, RedisError)  # a retry would write over the hole
    assert issubclass(ServerChanged, RedisError)  # a retry redoes the batch from its begin
    await store.claim(name, 0)
    await store.begin(name, {0: 5})
    await store.commit(name, {0: 5})
    replica = await server.snapshot()  # the replica stops here
    await store.begin(name, {0: 9})
    await store.commit(name, {0: 9})
    await store.audit()  # nothing lost yet
    await server.fail_over(replica)
    assert await store.progress(name, 0) == (5, -1)  # the commit of 9 is gone
    with pytest.raises(LostWrites) as lost:
        await store.audit()
    assert lost.value.partitions == [0] and lost.value.stage == "audit"
    with pytest.raises(LostWrites) as lost:  # a batch after the hole is never begun
        await store.begin(name, {0: 12})
    assert lost.value.stage == "begin" and await store.progress(name, 0) == (5, -1)
    with pytest.raises(LostWrites):
        await store.commit(name, {0: 12})
    assert await store.progress(name, 0) == (5, -1)
    # a claim lost with the old server: the stored epoch is below the token
    replica = await server.snapshot()
    await store.claim(name, 1)
    await server.fail_over(replica)
    with pytest.raises(LostWrites):
        await store.begin(name, {1: 3})
    # a restarted process claims afresh and goes on from what Redis holds
    await other.claim(name, 0)
    await other.claim(name, 1)
    await other.audit()
    # a batch begun on one server and committed on another is redone from its begin
    await other.begin(name, {0: 8, 1: 2})
    await server.fail_over(await server.snapshot())  # nothing lost, but another server
    with pytest.raises(ServerChanged):
        await other.commit(name, {0: 8, 1: 2})
    assert await other.progress(name, 0) == (5, 8)  # neither fence moved
    await other.begin(name, {0: 8, 1: 2})  # the retry
    await other.commit(name, {0: 8, 1: 2})
    assert await other.progress(name, 0) == (8, -1)
    assert await other.progress(name, 1) == (2, -1)
    with pytest.raises(StaleOwner):  # the first process is a stale owner, not a lost one
        await store.begin(name, {0: 20})


class MemoryServer:
    def __init__(self, store: MemoryProgress) -> None:
        self.server = store.server

    async def snapshot(self) -> Any:
        return self.server.snapshot()

    async def fail_over(self, to: Any) -> None:
        self.server.fail_over(to)


def test_memory_progress_keeps_the_contract():
    asyncio.run(_contract(MemoryProgress(), "ratings#x"))


def test_memory_progress_refuses_a_stale_owner():
    old = MemoryProgress()
    asyncio.run(_fencing(old, old.another_process(), "ratings#x"))


def test_memory_progress_sees_lost_writes():
    store = MemoryProgress()
    asyncio.run(_lost_writes(store, store.another_process(), "ratings#x", MemoryServer(store)))


class RedisServer:
    """A failover on one real server: the progress hashes go back to a DUMP, and every
    recorded begin is marked as another server's (the run id cannot change in place)."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.keys = [keys.partition_progress(name, p) for p in range(2)]

    async def snapshot(self) -> Any:
        return [await self.client.dump(key) for key in self.keys]

    async def fail_over(self, to: Any) -> None:
        for key, dumped in zip(self.keys, to, strict=True):
            await self.client.delete(key)
            if dumped is not None:
                await self.client.restore(key, 0, dumped)
            if await self.client.hexists(key, "intent_run"):
                await self.client.hset(key, "intent_run", "another-server")


def _on_redis(engine_settings, check: Callable[..., object], processes: int, **kw: Any) -> None:
    import redis.asyncio as aioredis

    async def main() -> None:
        client = aioredis.Redis.from_url(engine_settings.redis.url)
        name = f"{engine_settings.app_id}.ratings#x"
        extra = {k: v(client, name) for k, v in kw.items()}
        try:  # each ProgressStore keeps its own tokens: one per worker process
            stores = [ProgressStore(client) for _ in range(processes)]
            await check(*stores, name, **extra)  # type: ignore[misc]
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.integration
def test_redis_progress_keeps_the_contract(engine_settings):
    _on_redis(engine_settings, _contract, 1)


@pytest.mark.integration
def test_redis_progress_refuses_a_stale_owner(engine_settings):
    _on_redis(engine_settings, _fencing, 2)


@pytest.mark.integration
def test_redis_progress_sees_lost_writes(engine_settings):
    _on_redis(engine_settings, _lost_writes, 2, server=RedisServer)


async def _audit_during_claims(store: ProgressStore, name: str) -> None:
    """A claim (a rebalance) landing while an audit's read is on its way is not a loss:
    the audit compares with what was expected when it read, not with the new token."""
    await store.claim(name, 0)
    for _ in range(20):
        await asyncio.gather(store.audit(), store.claim(name, 0))
    await store.audit()


@pytest.mark.integration
def test_an_audit_racing_a_claim_sees_no_loss(engine_settings):
    _on_redis(engine_settings, _audit_during_claims, 1)
