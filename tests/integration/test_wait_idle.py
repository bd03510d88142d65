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
    stats = {"mean_changes": 4, "swept": 2, "stale_marks": 30}
    client.hset(keys.stream_stats(), mapping=stats)
    client.zadd(keys.stale_users(), {"u1": 1.0, "u2": 2.0})
    client.zadd(keys.lists_busy(), {f"{keys.REFRESH_ROUND}:1:a": 1e12})
    assert _stale_lists(client) == 3  # the stream's own backlog
    client.hset(keys.stream_stats(), mapping={"sweep_began": 3, "sweep_marks": 30})
    assert _stale_lists(client) == 3  # an older sweep: no proof
    client.hset(keys.stream_stats(), "sweep_began", 4)  # it began once they had drained
    assert _stale_lists(client) == 0  # the stale queue and refresh rounds are the sweep's
    assert _stale_lists(client, converged=True) == 4  # the full wait still waits for it
    client.hincrby(keys.stream_stats(), "stale_marks", 1)  # the stream marked a user since
    assert _stale_lists(client) == 3
    client.hset(keys.stream_stats(), "sweep_marks", 31)
    client.zadd(keys.served_due(), {"u3": 1.0})  # another path's list, due without a mark
    client.zadd(keys.lists_busy(), {"fuse:1:b": 1e12})  # and a fuser round
    client.zadd(keys.similar_due("cf"), {"i1": 1.0})  # a pace's list is the stream's too
    assert _stale_lists(client) == 3
