"""Reads and writes of the content and embedding state in Redis (keys from ``streams.state.keys``).

The embedding's shared part (items' rows, the network, the mean) lives under the ``{g}``
tag so one script adds a partition's deltas atomically behind that partition's fence;
each user's row and ratings live under the user's tag and are replaced behind the user's
fence. Lists (content, embedding, similar items) are derived and simply rewritten.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from streams.algo.embedding.plan import PortionPlan, UserView
from streams.state import keys
from streams.state.codecs import fmt, pack_ids, text
from streams.state.served import mark_due
from streams.state.similar_due import DueSimilar
from streams.state.toolkit import (
    hgetall_many,
    item_metas,
    script,
    write_rankings,
    write_similar_lists,
)


def _floats(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f8").copy()


class HybridStore:
    mark_served = False  # queue written users for the served list (the worker turns it on)

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis: Any = client
        self._apply_model = client.register_script(script("apply_embedding.lua"))
        self._apply_user = client.register_script(script("apply_embedding_user.lua"))
        self._replace = client.register_script(script("replace_ranking.lua"))

    def due_similar(self) -> DueSimilar:
        """The embedding similar lists the pace put off (``streams.engines.pace``)."""
        return DueSimilar(self.redis, "embedding")

    # --- catalogue ---------------------------------------------------------------------
    async def catalogue_version(self) -> int:
        return int(await self.redis.get(keys.catalogue_version()) or 0)

    async def catalogue(self) -> dict[str, dict[str, Any]]:
        """Item id → {"title", "attributes"} for every item of the catalogue."""
        ids = sorted(text(i) for i in await self.redis.smembers(keys.catalogue()))
        found = await item_metas(self.redis, ids)
        return {
            i: {"title": title or "", "attributes": attrs} for i, (title, attrs) in found.items()
        }

    async def put_items(self, items: dict[str, tuple[str, dict[str, Any]] | None]) -> None:
        """Write (title, attributes) per item, None removes it; bumps the version once."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for item, entry in items.items():
                if entry is None:  # gone: its description, lists and learned row
                    pipe.delete(keys.item_meta(item), keys.item_similar_content(item))
                    pipe.srem(keys.catalogue(), item)
                    pipe.hdel(keys.embedding_items(), item)
                else:
                    title, attributes = entry
                    mapping = {"title": title, "attributes": json.dumps(attributes)}
                    pipe.hset(keys.item_meta(item), mapping=mapping)
                    pipe.sadd(keys.catalogue(), item)
            pipe.incr(keys.catalogue_version())
            await pipe.execute()

    # --- embedding ---------------------------------------------------------------------
    async def model(self) -> tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray]:
        """(items' rows, the network's weights or None, [count, sum])."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.embedding_items())
            pipe.hmget(keys.embedding_model(), ["net", "mean"])
            items, (net, mean) = await pipe.execute()
        rows = {text(i): _floats(r) for i, r in items.items()}
        return (
            rows,
            None if net is None else _floats(net),
            (np.zeros(2) if mean is None else _floats(mean)),
        )

    async def shape(self, mine: str) -> str:
        """The stored embedding's shape, recording ``mine`` if none is stored yet."""
        await self.redis.hsetnx(keys.embedding_model(), "shape", mine)
        return text(await self.redis.hget(keys.embedding_model(), "shape"))

    async def users(
        self, partition_of: dict[str, int], initial: Callable[[str], np.ndarray]
    ) -> dict[str, UserView]:
        """Each user's row (``initial`` if new), ratings and fence on their partition."""
        users = sorted(partition_of)
        names = [k for u in users for k in (keys.user_embedding(u), keys.user_embedding_ratings(u))]
        raw = await hgetall_many(self.redis, names)
        out = {}
        for k, user in enumerate(users):
            state, rated = raw[2 * k], raw[2 * k + 1]
            fence = state.get(keys.ratings_fence_field(partition_of[user]).encode())
            row = state.get(b"row")
            out[user] = UserView(
                initial(user) if row is None else _floats(row),
                {text(i): float(r) for i, r in rated.items()},
                int(fence) if fence is not None else -1,
            )
        return out

    async def apply(self, plans: list[PortionPlan], width: int) -> None:
        """The shared deltas first, each user's row last (the engine's order: a user whose
        row is written had the batch's shared deltas applied)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for plan in plans:
                args: list[Any] = [
                    keys.ratings_fence_field(plan.partition),
                    plan.end,
                    width,
                    *pack_ids(plan.item_ids),
                    plan.deltas.astype("<f8").tobytes(),
                    plan.bases.astype("<f8").tobytes(),
                    plan.network_delta.astype("<f8").tobytes(),
                    plan.network_base.astype("<f8").tobytes(),
                    plan.mean_delta.astype("<f8").tobytes(),
                ]
                await self._apply_model(
                    keys=[keys.embedding_items(), keys.embedding_model()], args=args, client=pipe
                )
            await pipe.execute()
        async with self.redis.pipeline(transaction=False) as pipe:
            for plan in plans:
                field = keys.ratings_fence_field(plan.partition)
                for user, (row, changes) in plan.users.items():
                    items = sorted(changes)
                    values = ["" if changes[i] is None else fmt(changes[i] or 0.0) for i in items]
                    args = [
                        field,
                        plan.end,
                        row.astype("<f8").tobytes(),
                        *pack_ids(items),
                        *pack_ids(values),
                    ]
                    await self._apply_user(
                        keys=[keys.user_embedding(user), keys.user_embedding_ratings(user)],
                        args=args,
                        client=pipe,
                    )
            await pipe.execute()

    # --- lists -------------------------------------------------------------------------
    async def write_user_lists(
        self,
        content: dict[str, list[tuple[str, float]]],
        embedding: dict[str, list[tuple[str, float]]],
        since: Mapping[str, float],
    ) -> None:
        rankings = {keys.user_content_topn(u): ranked for u, ranked in content.items()}
        rankings |= {keys.user_embedding_topn(u): ranked for u, ranked in embedding.items()}
        await write_rankings(self.redis, self._replace, rankings)
        now = fmt(time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            users = set(content) | set(embedding)
            for user in users:
                pipe.hset(keys.user_embedding(user), "at", now)
            if self.mark_served:
                mark_due(pipe, {u: since[u] for u in sorted(users)})
            await pipe.execute()

    async def write_similar(self, kind: str, lists: dict[str, list[tuple[str, float]]]) -> None:
        key = keys.item_similar_content if kind == "content" else keys.item_similar_embedding
        await write_similar_lists(self.redis, {key(i): ls for i, ls in lists.items()})
