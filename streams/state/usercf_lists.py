"""The user-based path's read side in Redis: a user's model as the lists need it, the
lists themselves (written only if the user has not moved on), and the stale queue."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import redis.asyncio as aioredis

from streams.algo.usercf.expansion import ItemRaters
from streams.state import keys
from streams.state.codecs import decode_raters, fmt, text
from streams.state.served import mark_due
from streams.state.toolkit import hash_values


@dataclass(frozen=True)
class BaselineInputs:
    """(n, Σ r) over every rating, the item's, per user asked ([user, *raters], rows) and
    per item the user rated (rows); (0, 0) where nothing is stored."""

    totals: tuple[float, float]
    item: tuple[float, float]
    users: np.ndarray
    rated: np.ndarray


class UserLists:
    """Mixed into ``streams.state.usercf.Store``, which registers ``_write_lists``."""

    redis: aioredis.Redis
    _write_lists: Any
    mark_served = False  # queue written users for the served list (the worker turns it on)

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
            out.append((int(ver or 0), {text(i): float(r) for i, r in ratings.items()}, pairs))
        return out

    async def prediction_inputs(
        self, user: str, item: str
    ) -> tuple[dict[Any, bytes] | None, ItemRaters]:
        """(the user's pair sums, or None for an unknown user; the item's raters), each
        complete where the other has an entry. Only where the two meet counts, so
        the smaller of the two hashes is read whole and the other only at its fields: a
        hot item's raters are not read for a user with few pairs, nor a heavy user's
        pairs for a rarely rated item. The answer is the same as from both whole."""
        pairs_key, raters_key = keys.user_pairs(user), keys.item_raters(item)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hexists(keys.user_means(), user)
            pipe.hlen(pairs_key)
            pipe.hlen(raters_key)
            known, n_pairs, n_raters = await pipe.execute()
        if not known:
            return None, decode_raters({})
        whole, at = (raters_key, pairs_key) if n_raters <= n_pairs else (pairs_key, raters_key)
        first = cast(dict[Any, bytes], await self.redis.hgetall(whole))  # no decoding
        ids = list(first)
        other = dict(zip(ids, await self.redis.hmget(at, ids), strict=True)) if ids else {}
        met: dict[Any, bytes] = {k: v for k, v in other.items() if v is not None}
        pairs, raters = (met, first) if whole == raters_key else (first, met)
        return pairs, decode_raters(raters)

    async def means(self, users: list[Any]) -> dict[Any, float]:
        """Current means of ``users`` (str or bytes ids; the result is keyed the same)."""
        return await hash_values(self.redis, keys.user_means(), users, float)

    async def baseline_inputs(self, user: str, item: str, raters: list[Any]) -> BaselineInputs:
        """What the baseline of ``user`` and of the item's ``raters`` is made of (two round
        trips, whatever the sizes: the user's items' counts are one HMGET)."""
        everyone = [user.encode(), *raters]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.rating_totals(), ["n", "s"])
            pipe.hgetall(keys.user_ratings(user))  # the reader's ACL has no HKEYS
            pipe.hmget(keys.user_counts(), everyone)
            totals, rated, counts = await pipe.execute()
        copies = await self.redis.hmget(keys.item_ratings(), [item, *rated])
        return BaselineInputs(
            _pair(totals),
            _split(copies[0]),
            np.array([_split(raw) for raw in counts], dtype=np.float64).reshape(-1, 2),
            np.array([_split(raw) for raw in copies[1:]], dtype=np.float64).reshape(-1, 2),
        )

    async def versions(self, users: list[str]) -> list[int]:
        """Each user's ``ver``: ``apply_user.lua`` bumps it in the script that changes the
        user's ratings, so an unchanged ``ver`` means unchanged ratings."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.hget(keys.user_state(user), "ver")
            return [int(v or 0) for v in await pipe.execute()]

    async def versioned_ratings(self, users: list[str]) -> list[tuple[int, dict[str, float]]]:
        """(ver, ratings) per user; ``ver`` is read first, so the ratings are at least as
        new as it (never older: a ratings read paired with a later ``ver`` would be
        trusted for that later version)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.hget(keys.user_state(user), "ver")
                pipe.hgetall(keys.user_ratings(user))
            raw = await pipe.execute()
        return [
            (int(raw[2 * k] or 0), {text(i): float(r) for i, r in raw[2 * k + 1].items()})
            for k in range(len(users))
        ]

    async def write_lists(
        self,
        lists: dict[str, tuple[int, list[tuple[str, float]], list[tuple[str, float]]]],
        since: Mapping[str, float] | None = None,
    ) -> list[str]:
        """Write (ver_seen, neighbours, top-N) per user; returns the users that had moved on.
        ``since``: when each user's oldest change the lists take in was produced (the
        served list's age is counted from it; now if not given)."""
        at = time.time()
        now = fmt(at)
        users = sorted(lists)
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                ver, nbrs, top = lists[user]
                args: list[Any] = [ver, now, len(nbrs)]
                for other, sim in nbrs:
                    args += [other, fmt(sim)]
                for item, score in top:
                    args += [item, fmt(score)]
                await self._write_lists(
                    keys=[keys.user_state(user), keys.user_neighbours(user), keys.user_topn(user)],
                    args=args,
                    client=pipe,
                )
            if self.mark_served:
                mark_due(pipe, {u: (since or {}).get(u, at) for u in users})
            written = await pipe.execute()
        return [u for u, ok in zip(users, written[: len(users)], strict=True) if not int(ok)]

    async def pop_stale(self, budget: int) -> list[str]:
        popped = await self.redis.zpopmin(keys.stale_users(), budget)
        return [text(entry[0]) for entry in popped]  # type: ignore[arg-type]

    async def stale_count(self) -> int:
        return int(await self.redis.zcard(keys.stale_users()))

    async def convergence(self) -> tuple[int, int]:
        """(batches that moved users' means so far, the count the last finished
        convergence sweep began at): the lists have converged when the second reaches
        the first and the stale queue is empty (``streams.worker.sweep``)."""
        changes, swept = await self.redis.hmget(keys.stream_stats(), ["mean_changes", "swept"])
        return int(changes or 0), int(swept or 0)

    async def users_page(self, cursor: int, count: int) -> tuple[int, list[str]]:
        """A page of the users with a mean (HSCAN of ``user_means``); cursor 0 ends."""
        cursor, page = await self.redis.hscan(keys.user_means(), cursor, count=count)
        return int(cursor), [text(user) for user in page]

    async def backlog(self) -> tuple[int, int]:
        """(lists the stream left to do: users stale or due to be fused, and rounds of
        the refresher or fuser in progress; the stale marks so far), one MULTI, as
        ``wait-idle`` reads them."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zcard(keys.stale_users())
            pipe.zcard(keys.served_due())
            pipe.zcount(keys.lists_busy(), f"({time.time()!r}", "+inf")
            pipe.hget(keys.stream_stats(), "stale_marks")
            *counts, marks = await pipe.execute()
        return sum(int(n) for n in counts), int(marks or 0)

    async def queue_for_sweep(
        self, users: list[str], swept: int | None = None, began: tuple[int, int] | None = None
    ) -> None:
        """Queue ``users`` for the refresher without counting them as stale marks (those
        tell the refresher that the stream runs). With ``began`` (mean changes, stale
        marks), record first that a sweep begins there (the stream's backlog had
        drained at those marks: any later mark is the stream's again); with ``swept``,
        record after them that the sweep begun at that count has queued every user (one
        slot, in order: whoever reads ``swept`` finds the users queued)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            if began is not None:
                fields: list[str | int] = ["sweep_began", began[0], "sweep_marks", began[1]]
                pipe.hset(keys.stream_stats(), items=fields)
            if users:
                pipe.zadd(keys.stale_users(), dict.fromkeys(users, time.time()), nx=True)
            if swept is not None:
                pipe.hset(keys.stream_stats(), "swept", swept)
            await pipe.execute()

    async def stale_marks(self) -> int:
        """Users marked stale so far, re-marks of users still queued included: a queue
        that holds every user cannot grow, but this still moves while the stream runs."""
        return int(await self.redis.hget(keys.stream_stats(), "stale_marks") or 0)


def _pair(raw: list[Any]) -> tuple[float, float]:
    return float(raw[0] or 0), float(raw[1] or 0)


def _split(raw: Any) -> tuple[float, float]:
    """A stored "<count> <sum>"."""
    if raw is None:
        return 0.0, 0.0
    count, total = raw.split()
    return float(count), float(total)
