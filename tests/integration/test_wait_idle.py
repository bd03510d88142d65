"""What ``wait-idle`` counts as pending list work, on a real redis-server: the queues, a
round in flight, and a change of the popular list that the fuser has not looked at yet
(it compares once a second; a served list fused before a change it missed is stale)."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from streams.commands.wait_idle import _stale_lists
from streams.state import keys
from streams.state.served import ServedStore

pytestmark = pytest.mark.integration


def _seen(url: str, ids: list[str], depth: int) -> None:
    async def write() -> None:
        client = aioredis.Redis.from_url(url)
        try:
            await ServedStore(client).write_popular(b"{}", b"", 1.0, ids, depth)
        finally:
            await client.aclose()

    asyncio.run(write())


def test_a_popular_change_the_fuser_has_not_seen_is_pending(private_redis):
    client = redis.Redis.from_url(private_redis.url)
    client.flushdb()
    assert _stale_lists(client) == 0
    client.zadd(keys.popular(), {"a": 3.0, "b": 2.0, "c": 1.0})
    _seen(private_redis.url, ["a", "b"], 2)  # what the fuser compared: the current top 2
    assert _stale_lists(client) == 0
    client.zincrby(keys.popular(), 5.0, "c")  # the last batch moved c to the top
    assert _stale_lists(client) == 1
    _seen(private_redis.url, ["c", "a"], 2)
    assert _stale_lists(client) == 0
    client.zadd(keys.popular(), {"d": 0.1})  # below the depth the fuser compares
    assert _stale_lists(client) == 0


def test_queued_users_and_a_round_in_flight_are_pending(private_redis):
    client = redis.Redis.from_url(private_redis.url)
    client.flushdb()
    client.zadd(keys.served_due(), {"u1": 1.0})
    assert _stale_lists(client) == 1
    client.delete(keys.served_due())
    client.zadd(keys.lists_busy(), {"round": 1e12})  # a round marked busy until then
    assert _stale_lists(client) == 1


def test_an_unfinished_convergence_sweep_is_pending_unless_skipped(private_redis):
    client = redis.Redis.from_url(private_redis.url)
    client.flushdb()
    assert _stale_lists(client, converged=True) == 0  # nothing moved yet
    client.hset(keys.stream_stats(), mapping={"mean_changes": 3, "swept": 2})
    assert _stale_lists(client, converged=True) == 1
    assert _stale_lists(client) == 0  # --skip-sweep
    client.hset(keys.stream_stats(), "swept", 3)
    assert _stale_lists(client, converged=True) == 0


def test_skipping_the_sweep_leaves_its_queue_out_once_it_began_at_the_current_count(
    private_redis,
):
    client = redis.Redis.from_url(private_redis.url)
    client.flushdb()
    client.hset(keys.stream_stats(), mapping={"mean_changes": 4, "swept": 2})
    client.zadd(keys.stale_users(), {"u1": 1.0, "u2": 2.0})
    client.zadd(keys.served_due(), {"u3": 1.0})
    client.zadd(keys.lists_busy(), {"round": 1e12})
    assert _stale_lists(client) == 4  # the stream's own backlog
    client.hset(keys.stream_stats(), "sweep_began", 3)  # an older sweep: no proof
    assert _stale_lists(client) == 4
    client.hset(keys.stream_stats(), "sweep_began", 4)  # it began once they had drained
    assert _stale_lists(client) == 0
    assert _stale_lists(client, converged=True) == 5  # the full wait still waits for it
    client.zadd(keys.similar_due("cf"), {"i1": 1.0})  # a pace's list is still the stream's
    assert _stale_lists(client) == 1
