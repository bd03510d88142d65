"""Reads and writes of the item-to-item state in Redis (keys from ``streams.state.keys``).

Like ``streams.state.usercf``: every write that must happen at most once is a Lua script that
checks a fence; derived data (counts copy, similar lists, users' lists) is rewritten.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from streams.algo.itemcf.cooccurrence import HISTORY_DTYPE, CooccurrenceDeltas, UserHistory
from streams.state import keys
from streams.state.codecs import fmt, pack_ids, packed_entries, raw_pairs, text
from streams.state.toolkit import hash_values, hgetall_many, script, write_rankings


def decode_history(raw: dict[Any, bytes]) -> UserHistory:
    return UserHistory(*packed_entries(raw, HISTORY_DTYPE)) if raw else UserHistory.empty()


class ItemStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._apply_cooc = client.register_script(script("apply_cooccurrence.lua"))
        self._apply_history = client.register_script(script("apply_entries.lua"))
        self._replace = client.register_script(script("replace_ranking.lua"))
        self._publish_counts = client.register_script(script("publish_item_counts.lua"))

    async def histories(self, users: list[str]) -> dict[str, UserHistory]:
        raw = await hgetall_many(self.redis, [keys.user_history(u) for u in users])
        return {u: decode_history(r) for u, r in zip(users, raw, strict=True)}

    async def counts(self, items: list[Any]) -> dict[Any, int]:
        """n(i) of ``items`` (str or bytes ids; the result is keyed the same)."""
        return await hash_values(self.redis, keys.item_counts(), items, int)

    async def apply(
        self,
        portions: list[tuple[int, int, CooccurrenceDeltas, dict[str, UserHistory]]],
        with_sums: bool = False,
    ) -> None:
        """Items first, each user's history last: if a crash interrupts, the users whose
        history was written already had every item delta applied (see docs/algorithm.md)."""
        touched: list[str] = []
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition, end, deltas, _h in portions:
                field = keys.ratings_fence_field(partition)
                items = set(deltas.pairs) | set(deltas.counts) | set(deltas.sums)
                for item in sorted(items | set(deltas.rating_sums)):
                    row = deltas.pairs.get(item, {})
                    partners = sorted(row)
                    values = np.array([row[j] for j in partners], dtype="<i4").tobytes()
                    args: list[Any] = [field, end, deltas.counts.get(item, 0)]
                    args += [*pack_ids(partners), values]
                    if with_sums:
                        sums = deltas.sums.get(item, {})
                        others = sorted(sums)
                        blob = np.array([sums[j] for j in others], dtype="<f8").tobytes()
                        args += [fmt(deltas.rating_sums.get(item, 0.0)), *pack_ids(others), blob]
                    await self._apply_cooc(
                        keys=[
                            keys.item_cooccurrence(item),
                            keys.item_fence(item),
                            keys.item_pair_sums(item),
                        ],
                        args=args,
                        client=pipe,
                    )
                    touched.append(item)
            after = await pipe.execute()
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition, end, _d, histories in portions:
                field = keys.ratings_fence_field(partition)
                for user, history in histories.items():
                    if not history.changed:
                        continue
                    changed = sorted(history.changed)
                    packed = b"".join(history.packed(item) for item in changed)
                    await self._apply_history(
                        keys=[keys.user_history(user), keys.user_state(user)],
                        args=[field, end, *pack_ids(changed), packed],
                        client=pipe,
                    )
            if touched:
                copies: list[Any] = ["1" if with_sums else "0"]
                for item, (n, s, version) in zip(touched, after, strict=True):
                    mean = fmt(float(s) / int(n)) if with_sums and int(n) else ""
                    copies += [item, version, n, mean]
                await self._publish_counts(
                    keys=[keys.item_counts(), keys.item_count_versions(), keys.item_means()],
                    args=copies,
                    client=pipe,
                )
            await pipe.execute()

    async def rows(self, items: list[str]) -> dict[str, tuple[list[bytes], np.ndarray]]:
        """Each item's co-occurrence row: (partner ids as bytes, c(i, j)); the hot path
        decodes only the partners that make an item's list."""
        raw = await hgetall_many(self.redis, [keys.item_cooccurrence(i) for i in items])
        return {
            item: (list(row), np.fromiter(map(int, row.values()), float, len(row)))
            for item, row in zip(items, raw, strict=True)
        }

    async def pair_sums(self, items: list[str]) -> dict[str, tuple[list[bytes], np.ndarray]]:
        """Each item's Pearson sums row: (partner ids as bytes, (m, 6) sums)."""
        raw = await hgetall_many(self.redis, [keys.item_pair_sums(i) for i in items])
        return {item: raw_pairs(row) for item, row in zip(items, raw, strict=True)}

    async def means(self, items: list[Any]) -> dict[Any, float]:
        return await hash_values(self.redis, keys.item_means(), items, float)

    async def write_similar(self, lists: dict[str, list[tuple[str, float]]]) -> None:
        rankings = {keys.item_similar(item): listed for item, listed in lists.items()}
        await write_rankings(self.redis, self._replace, rankings)

    async def similar(self, items: list[str], size: int) -> dict[str, list[tuple[str, float]]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                pipe.zrevrange(keys.item_similar(item), 0, size - 1, withscores=True)
            raw = await pipe.execute()
        return {
            item: [(text(j), float(s)) for j, s in row]
            for item, row in zip(items, raw, strict=True)
        }

    async def write_user_lists(self, lists: dict[str, list[tuple[str, float, str]]]) -> None:
        now = fmt(time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            for user, ranked in lists.items():
                scores = np.array([s for _i, s, _b in ranked], dtype="<f8").tobytes()
                args = [*pack_ids([i for i, _s, _b in ranked]), scores]
                args += pack_ids([b for _i, _s, b in ranked])
                await self._replace(
                    keys=[keys.user_item_topn(user), keys.user_item_reasons(user)],
                    args=args,
                    client=pipe,
                )
                pipe.hset(keys.user_state(user), "item_topn_at", now)
            await pipe.execute()
