"""The one module that reads and writes engine state in Redis (keys from ``streams.keys``).

Every write that must happen at most once goes through a Lua script that checks a fence
and applies the batch in the same atomic step. Work is pipelined: a batch costs a fixed
handful of round trips, never one per pair.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from streams import keys
from streams.cf.expansion import RATER_DTYPE, BatchDeltas, ItemRaters
from streams.cf.pearson import WIDTH

PAIR_BYTES = WIDTH * 8


def _script(name: str) -> str:
    return resources.files("streams.lua").joinpath(name).read_text()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode_pairs(raw: dict[Any, bytes]) -> tuple[list[str], np.ndarray]:
    """A user's pairs hash → (partner ids, (m, 6) sums)."""
    if not raw:
        return [], np.zeros((0, WIDTH))
    partners = [_text(k) for k in raw]
    sums = np.frombuffer(b"".join(raw.values()), dtype="<f8").reshape(-1, WIDTH)
    return partners, sums


def decode_raters(raw: dict[Any, bytes]) -> ItemRaters:
    if not raw:
        return ItemRaters.empty()
    users = [_text(k) for k in raw]
    return ItemRaters(users, np.frombuffer(b"".join(raw.values()), dtype=RATER_DTYPE))


def _fmt(value: float) -> str:
    return repr(float(value))


class Store:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._apply_user = client.register_script(_script("apply_user.lua"))
        self._apply_item = client.register_script(_script("apply_item.lua"))
        self._write_lists = client.register_script(_script("write_lists.lua"))

    # --- progress of a by-item partition ---------------------------------------------
    async def progress(self, topic: str, partition: int) -> tuple[int, int]:
        """(fence, intent_end): last offset fully applied, and a batch left half-applied."""
        fence, intent = await self.redis.hmget(
            keys.partition_progress(topic, partition), ["fence", "intent_end"]
        )
        return int(fence or -1), int(intent or -1)

    async def begin(self, topic: str, partition: int, batch_end: int) -> None:
        await self.redis.hset(keys.partition_progress(topic, partition), "intent_end", batch_end)

    async def commit(self, topic: str, partition: int, batch_end: int) -> None:
        key = keys.partition_progress(topic, partition)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "fence", batch_end)
            pipe.hdel(key, "intent_end")
            await pipe.execute()

    # --- items ---------------------------------------------------------------------------
    async def load_raters(self, item_ids: list[str]) -> dict[str, ItemRaters]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in item_ids:
                pipe.hgetall(keys.item_raters(item))
            raw = await pipe.execute()
        return {item: decode_raters(r) for item, r in zip(item_ids, raw, strict=True)}

    async def apply_items(
        self, partition: int, batch_end: int, raters: dict[str, ItemRaters]
    ) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for item, state in raters.items():
                if not state.changed:
                    continue
                args: list[Any] = [partition, batch_end]
                for user in sorted(state.changed):
                    args += [user, state.packed(user)]
                await self._apply_item(
                    keys=[keys.item_raters(item), keys.item_fence(item)], args=args, client=pipe
                )
            await pipe.execute()

    # --- users ---------------------------------------------------------------------------
    async def apply_users(
        self, partition: int, batch_end: int, deltas: BatchDeltas
    ) -> dict[str, tuple[bool, float, float]]:
        """Apply each user's share of the batch; {user: (applied now, count, sum)}."""
        pairs = deltas.coalesced()
        users = sorted(set(pairs) | set(deltas.stats))
        field = keys.user_fence_field(partition)
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                stats = deltas.stats.get(user, np.zeros(3))
                args: list[Any] = [field, batch_end, *map(_fmt, stats)]
                ratings = deltas.ratings.get(user, {})
                args.append(len(ratings))
                for item, value in ratings.items():
                    args += [item, "" if value is None else _fmt(value)]
                partners, sums = pairs.get(user, ([], np.zeros((0, WIDTH))))
                args += [len(partners), *partners, sums.astype("<f8").tobytes()]
                await self._apply_user(
                    keys=[keys.user_state(user), keys.user_ratings(user), keys.user_pairs(user)],
                    args=args,
                    client=pipe,
                )
            results = await pipe.execute()
        return {
            user: (bool(int(r[0])), float(r[1]), float(r[2]))
            for user, r in zip(users, results, strict=True)
        }

    async def publish_derived(
        self,
        user_stats: dict[str, tuple[bool, float, float]],
        popularity: dict[str, float],
        stale: set[str],
    ) -> None:
        """Means, popularity and stale marks: derived data, rewritten on every replay."""
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            means = {u: s / c for u, (_, c, s) in user_stats.items() if c > 0}
            gone = [u for u, (_, c, _s) in user_stats.items() if c <= 0]
            if means:
                pipe.hset(keys.user_means(), mapping={u: _fmt(m) for u, m in means.items()})
            if gone:
                pipe.hdel(keys.user_means(), *gone)
            for item, weight in popularity.items():
                pipe.zincrby(keys.popular(), weight, item)
            if stale:
                pipe.zadd(keys.stale_users(), dict.fromkeys(stale, now), nx=True)
            await pipe.execute()

    # --- reading a user's model ---------------------------------------------------------
    async def user_views(self, users: list[str]) -> list[tuple[int, dict, dict]]:
        """[(ver, ratings {item: r}, pairs raw)] per user, one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.hget(keys.user_state(user), "ver")
                pipe.hgetall(keys.user_ratings(user))
                pipe.hgetall(keys.user_pairs(user))
            raw = await pipe.execute()
        out = []
        for k in range(len(users)):
            ver, ratings, pairs = raw[3 * k : 3 * k + 3]
            out.append((int(ver or 0), {_text(i): float(r) for i, r in ratings.items()}, pairs))
        return out

    async def means(self, users: list[str]) -> dict[str, float]:
        if not users:
            return {}
        values = await self.redis.hmget(keys.user_means(), users)
        return {u: float(v) for u, v in zip(users, values, strict=True) if v is not None}

    async def ratings_of(self, users: list[str]) -> dict[str, dict[str, float]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.hgetall(keys.user_ratings(user))
            raw = await pipe.execute()
        return {
            u: {_text(i): float(r) for i, r in rs.items()} for u, rs in zip(users, raw, strict=True)
        }

    async def write_lists(
        self, lists: dict[str, tuple[int, list[tuple[str, float]], list[tuple[str, float]]]]
    ) -> list[str]:
        """Write (ver_seen, neighbours, top-N) per user; returns the users that had moved on."""
        now = _fmt(time.time())
        users = sorted(lists)
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                ver, nbrs, top = lists[user]
                args: list[Any] = [ver, now, len(nbrs)]
                for other, sim in nbrs:
                    args += [other, _fmt(sim)]
                for item, score in top:
                    args += [item, _fmt(score)]
                await self._write_lists(
                    keys=[keys.user_state(user), keys.user_neighbours(user), keys.user_topn(user)],
                    args=args,
                    client=pipe,
                )
            written = await pipe.execute()
        return [u for u, ok in zip(users, written, strict=True) if not int(ok)]

    async def pop_stale(self, budget: int) -> list[str]:
        popped = await self.redis.zpopmin(keys.stale_users(), budget)
        return [_text(entry[0]) for entry in popped]  # type: ignore[arg-type]

    async def stale_count(self) -> int:
        return int(await self.redis.zcard(keys.stale_users()))
