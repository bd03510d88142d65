"""The user-based path's state in Redis: item raters, user sums and pairs, lists.

Every write that must happen at most once goes through a Lua script that checks a fence
and applies the batch in the same atomic step. Work is pipelined: a batch costs a fixed
handful of round trips, never one per pair.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from streams.algo.usercf.coalesce import Coalesced, coalesce
from streams.algo.usercf.expansion import RATER_DTYPE, BatchDeltas, ItemRaters, seq_windows
from streams.algo.usercf.pearson import WIDTH
from streams.state import keys
from streams.state.codecs import fmt, pack_ids, packed_entries, text
from streams.state.progress import ProgressStore
from streams.state.toolkit import script
from streams.state.usercf_lists import UserLists


def _all_of(raw: dict[Any, bytes], next_seq: bytes | None) -> ItemRaters:
    """Every rater of an item, from its raters hash and the next join seq."""
    users, state = packed_entries(raw, RATER_DTYPE)
    raters = ItemRaters(users, state, None if next_seq is None else int(next_seq))
    raters.reindex = next_seq is None  # build the item's join index, once
    return raters


def item_seq_keys(item_id: str) -> list[str]:
    return [keys.item_joins(item_id), keys.item_raters(item_id)]


def _with_window(partial: ItemRaters, rows: list[bytes]) -> ItemRaters:
    """The acting raters plus the window's, dropping index rows of raters that re-joined."""
    users, entries = list(partial.users), [partial.packed(u) for u in partial.users]
    for k in range(0, len(rows), 3):
        seq, user, entry = int(rows[k]), text(rows[k + 1]), rows[k + 2]
        if user not in partial.position and np.frombuffer(entry, RATER_DTYPE)["seq"][0] == seq:
            users.append(user)
            entries.append(entry)
    state = np.frombuffer(b"".join(entries), dtype=RATER_DTYPE)
    return ItemRaters(users, state, partial.next_seq)


def _moved(move: tuple[int, float, float]) -> list[str]:
    """apply_raters.lua's last arguments: Δ count, Δ sum and Δ popularity of the item."""
    return [str(int(move[0])), fmt(move[1]), fmt(move[2])]


def _rater_args(state: ItemRaters) -> list[Any]:
    """apply_raters.lua's arguments after the fence: changed entries, next seq, new joins
    (every live join when the item's index is being built)."""
    changed = sorted(state.changed)
    packed = b"".join(state.packed(user) for user in changed)
    joined = state.joined(everyone=state.reindex)
    seqs = np.array([s for s, _u in joined], dtype="<f8").tobytes()
    return [*pack_ids(changed), packed, state.next_seq, seqs, *pack_ids([u for _s, u in joined])]


def _counted_fields(partition: int) -> list[str]:
    """The history cap's count on a user's state (h:<p>) and ``<batch end>:<count before>``
    of the last batch that moved it (hb:<p>); apply_user.lua derives both from f:<p>."""
    suffix = keys.user_fence_field(partition).removeprefix("f")
    return ["h" + suffix, "hb" + suffix]


@dataclass(frozen=True)
class UserOutcome:
    count: float
    total: float
    stale: bool  # a non-rating user whose lists a partner's change can reach
    ver: int = 0  # the user's version when count and total were read
    applied: int = 0  # portions this batch's call applied (0: all were applied before)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count > 0 else None


class Store(ProgressStore, UserLists):
    """The user-based path's state, its lists and stale queue (``UserLists``), and the
    progress of its by-item partitions."""

    def __init__(self, client: aioredis.Redis) -> None:
        super().__init__(client)
        self._apply_user = client.register_script(script("apply_user.lua"))
        self._apply_raters = client.register_script(script("apply_raters.lua"))
        self._load_window = client.register_script(script("load_window.lua"))
        self._write_lists = client.register_script(script("write_lists.lua"))
        self._publish_means = client.register_script(script("publish_means.lua"))
        self._publish_items = client.register_script(script("publish_item_ratings.lua"))

    # --- items ---------------------------------------------------------------------------
    async def load_raters(
        self, acting: dict[str, list[str]], fan_out: int = 0
    ) -> dict[str, ItemRaters]:
        """Each item's raters that its acting users' events can pair with: all of them, or
        with the fan-out cap only the acting users and the seq windows around them (read
        through the join index), so the read does not grow with the item's audience."""
        items = sorted(acting)
        if not fan_out:  # every rater: one round trip, two commands per item
            return await self._all_raters(items)
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                pipe.hget(keys.item_fence(item), "next_seq")
                pipe.hlen(keys.item_raters(item))
                pipe.hmget(keys.item_raters(item), acting[item])
            first = await pipe.execute()
        out: dict[str, ItemRaters] = {}
        full, windowed = [], []
        for k, item in enumerate(items):
            next_seq, size, mine = first[3 * k : 3 * (k + 1)]
            if size == 0:
                out[item] = ItemRaters.empty()
            elif next_seq is None:  # an index not built yet
                full.append((item, next_seq))
            else:
                found = [(u, m) for u, m in zip(acting[item], mine, strict=True) if m]
                state = np.frombuffer(b"".join(m for _u, m in found), dtype=RATER_DTYPE)
                partial = ItemRaters([u for u, _m in found], state, int(next_seq))
                windowed.append((item, partial, seq_windows(partial, acting[item], fan_out)))
        async with self.redis.pipeline(transaction=False) as pipe:
            for item, _next in full:
                pipe.hgetall(keys.item_raters(item))
            for item, _partial, ranges in windowed:
                bounds = [b for r in ranges for b in r]
                await self._load_window(keys=item_seq_keys(item), args=bounds, client=pipe)
            second = await pipe.execute()
        for (item, next_seq), raw in zip(full, second, strict=False):
            out[item] = _all_of(raw, next_seq)
        for (item, partial, _r), rows in zip(windowed, second[len(full) :], strict=True):
            out[item] = _with_window(partial, rows)
        return out

    async def _all_raters(self, items: list[str]) -> dict[str, ItemRaters]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                pipe.hget(keys.item_fence(item), "next_seq")
                pipe.hgetall(keys.item_raters(item))
            got = await pipe.execute()
        return {
            item: _all_of(raw, next_seq) if raw else ItemRaters.empty()
            for item, next_seq, raw in zip(items, got[::2], got[1::2], strict=True)
        }

    async def apply_items(
        self,
        portions: list[tuple[int, int, dict[str, ItemRaters]]],
        moves: Mapping[tuple[int, str], tuple[int, float, float]] | None = None,
    ) -> dict[str, tuple[str, str, str]]:
        """Each changed item's raters, at most once per partition, with ``moves``: how
        the batch moved the item's number and sum of ratings (the baseline's item bias)
        and its time-decayed rating count. Returns each item's (version, "<count> <sum>",
        popularity) after the batch, for ``publish_derived``."""
        moves = moves or {}
        items: list[str] = []
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition, batch_end, raters in portions:
                for item, state in raters.items():
                    items.append(item)
                    if not state.changed:  # nothing to apply (a redo: applied before);
                        # its counts are still published, the first attempt may not have
                        pipe.hmget(keys.item_fence(item), ["rn", "rs", "rv", "pw"])
                        continue
                    await self._apply_raters(
                        keys=[keys.item_raters(item), keys.item_fence(item), keys.item_joins(item)],
                        args=[
                            partition,
                            batch_end,
                            *_rater_args(state),
                            *_moved(moves.get((partition, item), (0, 0.0, 0.0))),
                        ],
                        client=pipe,
                    )
            after = await pipe.execute()
        return {
            item: (text(version), f"{text(n)} {text(total)}", text(popularity or b"0"))
            for item, (n, total, version, popularity, *_a) in zip(items, after, strict=True)
            if version is not None
        }

    # --- users ---------------------------------------------------------------------------
    async def apply_users(
        self,
        portions: list[tuple[int, int, BatchDeltas]],
        means: dict[str, float],
        neighbourhood_size: int,
        significance: tuple[int, float] = (1, 0.0),
    ) -> dict[str, UserOutcome]:
        """Apply each user's share of every portion (partition, batch end, deltas) in one
        script per user, with the pair sums coalesced over the whole batch; a user one of
        whose portions is applied already (a partition being redone) gets them per
        portion in a second round trip. Users who did not rate also learn whether a
        changed partner can reach their lists (``means`` holds the raters' new means;
        ``significance`` the (min support, shrinkage) the neighbourhoods weigh with)."""
        whole = coalesce([d for _p, _e, d in portions])
        users = sorted(set().union(*(set(d.users) | set(d.stats) for _p, _e, d in portions)))
        k = (neighbourhood_size, *significance)
        results = await self._apply_users(users, portions, [whole], True, means, k)
        redo = [u for u, r in zip(users, results, strict=True) if int(r[0]) < 0]
        if redo:
            each = [coalesce([d]) for _p, _e, d in portions]
            done = await self._apply_users(redo, portions, each, False, means, k)
            again = dict(zip(redo, done, strict=True))
            results = [again.get(u, r) for u, r in zip(users, results, strict=True)]
        return {
            user: UserOutcome(float(r[1]), float(r[2]), bool(int(r[4])), int(r[3]), int(r[0]))
            for user, r in zip(users, results, strict=True)
        }

    async def _apply_users(
        self,
        users: list[str],
        portions: list[tuple[int, int, BatchDeltas]],
        pairs: list[Coalesced],
        whole: bool,
        means: dict[str, float],
        check_with: tuple[int, int, float],
    ) -> list[Any]:
        """apply_user.lua per user; ``pairs`` is ``[whole-batch coalescing]`` (``whole``)
        or one coalescing per portion; ``check_with``: (K, min support, shrinkage)."""
        acting = set().union(*(d.ratings for _p, _e, d in portions))
        no_pairs: tuple[list[str], np.ndarray] = ([], np.zeros((0, WIDTH)))
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                check = user not in acting
                args: list[Any] = [0, check_with[0] if check else 0, int(whole)]
                for k, (partition, end, deltas) in enumerate(portions):
                    if user not in deltas.users and user not in deltas.stats:
                        continue
                    args[0] += 1
                    partners, sums = no_pairs if whole else pairs[k].get(user, no_pairs)
                    ratings = deltas.ratings.get(user, {})
                    stats = deltas.stats.get(user, np.zeros(3))
                    values = np.array(
                        [np.nan if v is None else v for v in ratings.values()], dtype="<f8"
                    )
                    args += [keys.user_fence_field(partition), end, *map(fmt, stats)]
                    args += [*pack_ids(list(ratings)), values.tobytes()]
                    args += [*pack_ids(partners), sums.astype("<f8").tobytes()]
                    args.append(deltas.counted_delta.get(user, 0))
                changed = set()
                for per in pairs:
                    changed.update(per.get(user, no_pairs)[0])
                if whole:
                    partners, sums = pairs[0].get(user, no_pairs)
                    args += [*pack_ids(partners), sums.astype("<f8").tobytes()]
                if check:
                    ordered = sorted(changed)
                    mean_blob = np.array([means.get(v, 0.0) for v in ordered], dtype="<f8")
                    args += [*pack_ids(ordered), mean_blob.tobytes()]
                    args += [check_with[1], fmt(check_with[2])]
                await self._apply_user(
                    keys=[
                        keys.user_state(user),
                        keys.user_ratings(user),
                        keys.user_pairs(user),
                        keys.user_neighbours(user),
                    ],
                    args=args,
                    client=pipe,
                )
            return await pipe.execute()

    async def counted_before(
        self, portions: list[tuple[int, int, list[str]]]
    ) -> list[dict[str, int]]:
        """Per (partition, batch end, users): each user's counted ratings on the partition
        before this batch (history cap). A user who already applied this very batch (a
        redo after a crash) answers with the count it recorded before it, so the redo
        makes the same decisions; only that partition's owner moves the count."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition, _end, users in portions:
                for user in users:
                    pipe.hmget(keys.user_state(user), _counted_fields(partition))
            raw = iter(await pipe.execute())
        out = []
        for _partition, end, users in portions:
            counts = {}
            for user in users:
                now, before = next(raw)
                mark, _sep, then = text(before or b"").partition(":")
                counts[user] = int(then) if mark == str(end) else int(now or 0)
            out.append(counts)
        return out

    async def stats(self, users: list[str]) -> dict[str, UserOutcome]:
        """Each user's count, sum and version as stored now (one read of one hash: the
        three agree), as the outcome of a batch that does not change the user."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.hmget(keys.user_state(user), ["count", "sum", "ver"])
            raw = await pipe.execute()
        return {
            u: UserOutcome(float(c or 0), float(t or 0), False, int(v or 0))
            for u, (c, t, v) in zip(users, raw, strict=True)
        }

    async def publish_derived(
        self,
        outcomes: dict[str, UserOutcome],
        items: Mapping[str, tuple[str, str, str]],
        stale: set[str],
        applied_events: int = 0,
        unchanged: Mapping[str, UserOutcome] | None = None,
    ) -> None:
        """Means, the items' rating counts and popularity (``apply_items``' answer) and
        stale marks: copies and marks, published again by a redo. ``unchanged``: users of
        the batch it did not move (a redo's, whose items were written before the crash),
        published as they stand, not counted as moved means."""
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            if items:  # newest version wins (publish_item_ratings.lua)
                copies: list[Any] = []
                for item, (version, counts, popularity) in items.items():
                    copies += [item, version, counts, popularity]
                names = [keys.item_ratings(), keys.item_ratings_versions(), keys.popular()]
                await self._publish_items(keys=names, args=copies, client=pipe)
            if outcomes or unchanged:
                args: list[Any] = []
                for user, o in {**(unchanged or {}), **outcomes}.items():
                    mean = "" if o.mean is None else fmt(o.mean)
                    args += [user, o.ver, mean, f"{o.count:.0f}", fmt(o.total)]
                names = [keys.user_means(), keys.user_means_versions()]
                names += [keys.user_counts(), keys.rating_totals()]
                await self._publish_means(keys=names, args=args, client=pipe)
            if outcomes:  # a mean moved: lists that share no item of this batch may drift
                # until the convergence sweep (streams.worker.sweep) refreshes them
                pipe.hincrby(keys.stream_stats(), "mean_changes", 1)
            if stale:
                pipe.zadd(keys.stale_users(), dict.fromkeys(stale, now), nx=True)
                pipe.hincrby(keys.stream_stats(), "stale_marks", len(stale))
            if applied_events:
                pipe.hincrby(keys.stream_stats(), "events", applied_events)
            await pipe.execute()
