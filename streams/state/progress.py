"""Per-partition progress: the fence (last offset fully applied) and, while a batch is
being applied, its end and recorded decisions (the intent a restart must redo).

``Progress`` is the interface the exactly-once cutter (``streams.worker.batching``) and
the engines use; ``ProgressStore`` keeps it in Redis, ``streams.state.memory`` in
process, so the cut/redo logic is tested without a broker or a server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import redis.asyncio as aioredis

from streams.state import keys
from streams.state.codecs import text


class Progress(Protocol):
    """One store per path; ``topic`` names the path's progress (a topic, or topic#stage)."""

    async def progress(self, topic: str, partition: int) -> tuple[int, int]:
        """(fence, intent_end), -1 for none."""
        ...

    async def begin(
        self, topic: str, ends: dict[int, int], plans: Mapping[int, str | bytes] | None = None
    ) -> None:
        """Record each partition's batch end (and plan) before anything of it is written."""
        ...

    async def plan(self, topic: str, partition: int) -> str | None:
        """The decisions recorded with the half-applied batch, if any."""
        ...

    async def commit(self, topic: str, ends: dict[int, int]) -> None:
        """Move the fences to the batch ends and drop the intents."""
        ...


class ProgressStore:
    """``Progress`` in Redis: one hash per partition (``keys.partition_progress``)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def progress(self, topic: str, partition: int) -> tuple[int, int]:
        """(fence, intent_end): last offset fully applied, and a batch left half-applied."""
        fence, intent = await self.redis.hmget(
            keys.partition_progress(topic, partition), ["fence", "intent_end"]
        )
        return int(fence or -1), int(intent or -1)

    async def begin(
        self, topic: str, ends: dict[int, int], plans: Mapping[int, str | bytes] | None = None
    ) -> None:
        """Record each partition's batch end (and, where decisions depend on state that a
        half-applied batch moves, the decisions) before anything of the batch is written."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition, end in ends.items():
                key = keys.partition_progress(topic, partition)
                pipe.hset(key, "intent_end", end)
                if plans is not None and partition in plans:
                    pipe.hset(key, "intent_plan", plans[partition])
            await pipe.execute()

    async def plan(self, topic: str, partition: int) -> str | None:
        raw = await self.redis.hget(keys.partition_progress(topic, partition), "intent_plan")
        return text(raw) if raw is not None else None

    async def commit(self, topic: str, ends: dict[int, int]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition, end in ends.items():
                key = keys.partition_progress(topic, partition)
                pipe.hset(key, "fence", end)
                pipe.hdel(key, "intent_end", "intent_plan")
            await pipe.execute()
