"""The reader's view of the Redis layout: each method is one or two pipelined round trips."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from app.multiplex import Multiplexed
from streams.algo.embedding import model as embedding
from streams.algo.usercf.expansion import RATER_DTYPE
from streams.algo.usercf.pearson import WIDTH, N, pearson
from streams.state import keys
from streams.state.codecs import text
from streams.state.served import ServedStore
from streams.state.toolkit import item_metas, read_similar_lists

SIMILAR_KEYS = {
    "cf": keys.item_similar,
    "content": keys.item_similar_content,
    "embedding": keys.item_similar_embedding,
}


@dataclass(frozen=True)
class ItemMeta:
    item_id: str
    title: str | None
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Sources:
    lists: dict[str, list[tuple[str, float]]]  # source → (item, score), best first
    reasons: dict[str, str]  # item-cf: item → the recent item that put it there
    computed_at: float | None
    known: bool
    ratings: int  # how many ratings the user has (cold-start routing)


class ReaderStore:
    def __init__(
        self,
        client: aioredis.Redis,
        meta_ttl_s: float = 30.0,
        popular_ttl_s: float = 1.0,
        multiplexed: Multiplexed | None = None,
    ) -> None:
        self.redis: Any = client  # redis-py's reply types are too loose to be useful here
        self.meta_ttl_s = meta_ttl_s
        self.popular_ttl_s = popular_ttl_s
        self._popular: tuple[float, int, list[tuple[str, float]]] = (-1e9, 0, [])
        self._meta: dict[str, tuple[float, ItemMeta | None]] = {}
        self.served_store = ServedStore(client)
        self.multiplexed = multiplexed
        self._popular_doc: tuple[float, tuple[bytes, bytes] | None] = (-1e9, None)

    async def sources(self, user: str, depth: int) -> Sources:
        """Every source's list for ``user`` in one round trip: the popular list is global
        and cached for ``popular_ttl_s``; only its exclusion (what the user rated) is
        asked per request."""
        popular = await self._popular_cached(2 * depth)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(keys.user_topn(user), 0, depth - 1, withscores=True)
            pipe.zrevrange(keys.user_item_topn(user), 0, depth - 1, withscores=True)
            pipe.hgetall(keys.user_item_reasons(user))
            pipe.zrevrange(keys.user_content_topn(user), 0, depth - 1, withscores=True)
            pipe.zrevrange(keys.user_embedding_topn(user), 0, depth - 1, withscores=True)
            pipe.hmget(keys.user_state(user), ["topn_at", "item_topn_at", "count"])
            pipe.hget(keys.user_embedding(user), "at")
            if popular:
                pipe.hmget(keys.user_ratings(user), [i for i, _s in popular])
            (
                user_cf,
                item_cf,
                reasons,
                content,
                learned,
                (at, item_at, count),
                hybrid_at,
                *rated,
            ) = await pipe.execute()
        unrated = popular
        if rated:
            unrated = [entry for entry, r in zip(popular, rated[0], strict=True) if r is None]
        times = [float(t) for t in (at, item_at, hybrid_at) if t]
        return Sources(
            lists={
                "user-cf": [(text(i), float(score)) for i, score in user_cf],
                "item-cf": [(text(i), float(score)) for i, score in item_cf],
                "content": [(text(i), float(score)) for i, score in content],
                "embedding": [(text(i), float(score)) for i, score in learned],
                "popular": unrated[:depth],
            },
            reasons={text(k): text(v) for k, v in reasons.items()},
            computed_at=max(times) if times else None,
            known=count is not None and float(count) > 0,
            ratings=int(float(count)) if count is not None else 0,
        )

    async def served(self, user: str) -> tuple[bytes, bytes] | None:
        """The user's stored served list (doc, ends): one HMGET, through the multiplexed
        connection when there is one."""
        execute = self.multiplexed.execute if self.multiplexed is not None else None
        return await self.served_store.read(user, execute)

    async def popular_served(self) -> tuple[bytes, bytes] | None:
        """The worker's list for users nobody knows (``streams.state.served``), cached
        for ``popular_ttl_s``: every unknown user is served the same bytes."""
        now = time.monotonic()
        if now - self._popular_doc[0] > self.popular_ttl_s:
            self._popular_doc = (now, await self.served_store.read_popular())
        return self._popular_doc[1]

    async def _popular_cached(self, n: int) -> list[tuple[str, float]]:
        now = time.monotonic()
        at, size, cached = self._popular
        if now - at > self.popular_ttl_s or size < n:
            cached = await self.popular(n)
            self._popular = (now, n, cached)
        return cached[:n]

    async def similar_items(self, item: str, n: int, kind: str = "cf") -> list[tuple[str, float]]:
        (top,) = await read_similar_lists(self.redis, [SIMILAR_KEYS[kind](item)], n)
        return top

    async def popular(self, n: int) -> list[tuple[str, float]]:
        top = await self.redis.zrevrange(keys.popular(), 0, n - 1, withscores=True)
        return [(text(i), float(score)) for i, score in top]

    async def items(self, item_ids: list[str]) -> dict[str, ItemMeta]:
        """Catalogue entries, cached for ``meta_ttl_s``: titles change rarely, and the
        cache saves the recommendation route its second round trip."""
        now = time.monotonic()
        if len(self._meta) > 100_000:  # before the lookup: every asked item is then read
            self._meta.clear()
        missing = [i for i in item_ids if self._meta.get(i, (0.0, None))[0] <= now]
        if missing:
            read = await item_metas(self.redis, missing)
            for item in missing:
                meta = ItemMeta(item, *read[item]) if item in read else None
                self._meta[item] = (now + self.meta_ttl_s, meta)
        cached = {i: self._meta[i][1] for i in item_ids}
        return {i: m for i, m in cached.items() if m is not None}

    async def embedding_prediction(
        self, user: str, item: str, bounds: tuple[float, float]
    ) -> float | None:
        """μ + b_u + b_i + p_u · q_i from the stored embedding; None for an unknown user.
        The network's shape follows from the stored sizes; an item nobody rated has
        bias 0 and (neural) the network's output for its attributes as q_i."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.user_embedding(user), "row")
            pipe.hget(keys.embedding_items(), item)
            pipe.hmget(keys.embedding_model(), ["net", "mean"])
            pipe.hget(keys.item_meta(item), "attributes")
            user_row, item_row, (net, mean), attributes = await pipe.execute()
        if user_row is None or mean is None:
            return None
        totals = np.frombuffer(mean, dtype="<f8")
        if totals[0] <= 0:
            return None
        p = np.frombuffer(user_row, dtype="<f8")
        row = np.zeros(len(p)) if item_row is None else np.frombuffer(item_row, dtype="<f8")
        network = None
        if net is not None:
            flat = np.frombuffer(net, dtype="<f8").copy()
            hidden = len(flat) // (embedding.FEATURES + 1 + len(p) - 1)
            network = embedding.Network(flat, hidden, len(p) - 1)
        x = embedding.features(json.loads(attributes) if attributes else {})
        q = embedding.item_vector(row, network, x)
        return embedding.predict(float(totals[1] / totals[0]), p, row, q, bounds)

    async def neighbours(self, user: str, k: int) -> list[tuple[str, float, int]]:
        """(neighbour, similarity, support), most similar first."""
        top = await self.redis.zrevrange(keys.user_neighbours(user), 0, k - 1, withscores=True)
        if not top:
            return []
        ids = [text(v) for v, _ in top]
        packed = await self.redis.hmget(keys.user_pairs(user), ids)
        support = [int(np.frombuffer(p, dtype="<f8")[N]) if p is not None else 0 for p in packed]
        sims = [float(sim) for _v, sim in top]
        return list(zip(ids, sims, support, strict=True))

    async def similarity(self, user: str, other: str) -> tuple[float, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.user_pairs(user), other)
            pipe.hmget(keys.user_means(), [user, other])
            packed, (mean_u, mean_v) = await pipe.execute()
        if packed is None or mean_u is None or mean_v is None:
            return 0.0, 0
        sums = np.frombuffer(packed, dtype="<f8").reshape(WIDTH)
        return float(pearson(sums, float(mean_u), float(mean_v))), int(sums[N])

    async def because(self, user: str, item: str, k: int) -> list[tuple[str, float, float, float]]:
        """Neighbours of ``user`` who rated ``item``: (id, similarity, rating, their mean)."""
        nbrs = await self.redis.zrevrange(keys.user_neighbours(user), 0, k - 1, withscores=True)
        ids = [text(v) for v, _ in nbrs]
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.item_raters(item), ids)
            pipe.hmget(keys.user_means(), ids)
            raters, means = await pipe.execute()
        out = []
        sims = [float(sim) for _v, sim in nbrs]
        for v, sim, packed, mean in zip(ids, sims, raters, means, strict=True):
            if packed is None or mean is None:
                continue
            rating = float(np.frombuffer(packed, dtype=RATER_DTYPE)["rating"][0])
            if not np.isnan(rating) and sim > 0:
                out.append((v, sim, rating, float(mean)))
        return out

    async def stats(self) -> dict[str, float]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.stream_stats(), "events")
            pipe.hlen(keys.user_means())
            pipe.zcard(keys.stale_users())
            events, users, stale = await pipe.execute()
        return {"events": float(events or 0), "users": float(users), "stale_lists": float(stale)}
