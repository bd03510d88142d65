"""Start-up checks on the Redis that holds the state, and the least-privilege ACL rules.

Exactly-once updates rest on fences: hash fields the worker reads before it applies a
batch. A Redis that may evict any key (``maxmemory-policy allkeys-*``) can drop a fence
under memory pressure, and the next replay applies a batch twice, silently. So both
processes refuse to start on such a Redis. ``volatile-*`` policies evict only keys with
a TTL, and no streamrec key has one (checked after a worker run in
``tests/integration/test_redis_acl_tls.py``), so they are accepted; ``noeviction`` is
what docs/deploy.md recommends.

A Redis that will not tell its policy (an ACL without INFO and CONFIG, a managed service
that renames CONFIG) gets a warning, not a refusal: the check must not lock operators
out of a correctly configured service.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from streams.settings import RedisConnection
from streams.state.clients import sync_client

log = logging.getLogger(__name__)

# --- ACL rules (docs/deploy.md shows them; tests/integration/test_redis_acl_tls.py
# proves them on a real redis-server) -------------------------------------------------
KEYS = "sr:*"  # streams.state.keys.NAMESPACE and every later layout version
# Redis 7.2+ knows CLIENT SETINFO, which redis-py sends on connect and tolerates being
# refused (docs/deploy.md: add +client|setinfo there to keep ACL LOG quiet).
CONNECT = ("+ping", "+info", "+select")
READER_ACL = (
    "resetkeys", "resetchannels", f"%R~{KEYS}", "-@all", *CONNECT,
    "+get", "+zrevrange", "+zcard", "+hget", "+hmget", "+hgetall", "+hexists", "+hlen",
)  # fmt: skip
# The worker's own commands and the ones its Lua scripts call (a script runs with its
# caller's permissions); EVALSHA with SCRIPT LOAD/EXISTS is how redis-py runs them.
# SCAN and UNLINK are for ``streamrec rebuild``, run with the worker's credentials.
WORKER_ACL = (
    "resetkeys", "resetchannels", f"~{KEYS}", "-@all", *CONNECT,
    "+evalsha", "+script|load", "+script|exists",
    "+get", "+set", "+incr", "+incrby", "+del", "+unlink", "+scan",
    "+hget", "+hmget", "+hgetall", "+hexists", "+hlen", "+hset", "+hsetnx", "+hdel", "+hscan",
    "+hincrby", "+hincrbyfloat",
    "+sadd", "+srem", "+smembers",
    "+zadd", "+zincrby", "+zrange", "+zrevrange", "+zscore", "+zcard", "+zpopmin",
    "+zrangebyscore", "+zcount", "+zrem", "+multi", "+exec",
)  # fmt: skip


def acl_rule(user: str, password: str, rules: tuple[str, ...]) -> str:
    """One ``user`` line of an ACL file (or the arguments of ACL SETUSER after the name)."""
    return " ".join(["user", user, "on", f">{password}", *rules])


# --- maxmemory-policy ------------------------------------------------------------------
SAFE_POLICIES = ("noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")


class EvictingRedis(RuntimeError):
    """Redis may evict streamrec's keys; the message names the setting and the fix."""


def judge(policy: str | None, process: str) -> str | None:
    """The policy if it is safe, None when unknown (after a warning); raises otherwise."""
    if policy is None:
        log.warning(
            "%s: could not read Redis's maxmemory-policy (neither INFO nor CONFIG GET is "
            "allowed); make sure it is noeviction: an allkeys-* policy evicts the fences "
            "that keep updates exactly-once",
            process,
        )
        return None
    if policy in SAFE_POLICIES:
        return policy
    raise EvictingRedis(
        f"Redis's maxmemory-policy is {policy!r}: under memory pressure Redis may evict "
        "any key, including the fences that make updates exactly-once, and state would "
        "silently go wrong. Set maxmemory-policy to noeviction (redis.conf, CONFIG SET "
        "maxmemory-policy noeviction, or the managed service's parameter group)"
    )


def _from_info(info: dict[str, Any]) -> str | None:
    value = info.get("maxmemory_policy")
    return None if value is None else str(value)


def _from_config(reply: dict[Any, Any]) -> str | None:
    for name, value in reply.items():
        if (name.decode() if isinstance(name, bytes) else name) == "maxmemory-policy":
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def read_policy(client: redis.Redis) -> str | None:
    """INFO memory first (read-only, granted to both ACL users), then CONFIG GET."""
    try:
        if (policy := _from_info(client.info("memory"))) is not None:
            return policy
    except ResponseError:
        pass
    try:
        return _from_config(client.config_get("maxmemory-policy"))
    except ResponseError:
        return None


async def read_policy_async(client: aioredis.Redis) -> str | None:
    try:
        if (policy := _from_info(await client.info("memory"))) is not None:
            return policy
    except ResponseError:
        pass
    try:
        return _from_config(await client.config_get("maxmemory-policy"))
    except ResponseError:
        return None


async def check_eviction(client: aioredis.Redis, process: str = "reader") -> str | None:
    """For the reader's lifespan: raises :class:`EvictingRedis` on an evicting policy.
    An unreachable Redis is only logged (the readiness probe reports it)."""
    try:
        policy = await read_policy_async(client)
    except RedisError as exc:
        log.warning("%s: could not check Redis's maxmemory-policy: %s", process, exc)
        return None
    return judge(policy, process)


def refuse_evicting_redis(connection: RedisConnection, process: str = "worker") -> None:
    """For the worker's start: exits with status 2 and the reason on an evicting policy.
    An unreachable Redis is only logged (the worker rides out outages)."""
    client = sync_client(connection, socket_timeout=10)
    try:
        judge(read_policy(client), process)
    except EvictingRedis as exc:
        print(f"{process}: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except RedisError as exc:
        log.warning("%s: could not check Redis's maxmemory-policy: %s", process, exc)
    finally:
        client.close()
