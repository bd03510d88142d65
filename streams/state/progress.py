"""Per-partition progress: the fence (last offset fully applied) and, while a batch is
being applied, its end and recorded decisions (the intent a restart must redo).

``Progress`` is the interface the exactly-once cutter (``streams.worker.batching``) and
the engines use; ``ProgressStore`` keeps it in Redis, ``streams.state.memory`` in
process, so the cut/redo logic is tested without a broker or a server.

Fencing tokens (issue 14, hole 1): each progress hash also holds an owner ``epoch``.
``claim`` increments it and reads fence and intent in one step; the store keeps the new
epoch in process as this process's token for the partition. ``begin`` and ``commit``
check the token against the stored epoch in the same script as their write (one script
per partition key: partitions may sit in different cluster slots) and refuse with
``StaleOwner`` once another process has claimed the partition, e.g. a worker that was
paused past its session timeout while its partitions moved on. ``commit`` never moves a
fence backwards. A partition this process holds no token for (never claimed, or the
token dropped on a revoke) is refused as stale too, not treated as a bug: a batch still
in flight across a revoke must not move progress, and failing loudly there would stop
the worker. ``progress`` and ``plan`` stay plain reads (tools, the cutter's re-read)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import redis.asyncio as aioredis

from streams.state import keys
from streams.state.codecs import text
from streams.state.toolkit import script


class StaleOwner(Exception):
    """``begin`` or ``commit`` refused: another process claimed these partitions since
    this one did (or this one holds no token for them). Not a ``RedisError``: retrying
    cannot help (``streams.worker.retry.through_outages`` lets it through). The
    partitions not listed were recorded (begin) or committed (commit) as asked."""

    def __init__(self, topic: str, partitions: list[int], stage: str) -> None:
        self.topic = topic
        self.partitions = sorted(partitions)
        self.stage = stage  # "begin" or "commit"
        super().__init__(f"{stage} refused on {topic} partitions {self.partitions}: stale owner")


class Progress(Protocol):
    """One store per path; ``topic`` names the path's progress (a topic, or topic#stage)."""

    async def progress(self, topic: str, partition: int) -> tuple[int, int]:
        """(fence, intent_end), -1 for none."""
        ...

    async def claim(self, topic: str, partition: int) -> tuple[int, int]:
        """Own the partition from now on: a new epoch, kept as this process's token;
        returns (fence, intent_end) read in the same step."""
        ...

    def holds(self, topic: str, partition: int) -> bool:
        """Whether this process holds a token for the partition (claimed, not forgotten)."""
        ...

    def forget_token(self, topic: str, partition: int) -> None:
        """Drop this process's token (the partition was revoked): the next owner claims."""
        ...

    async def begin(
        self, topic: str, ends: dict[int, int], plans: Mapping[int, str | bytes] | None = None
    ) -> None:
        """Record each partition's batch end (and plan) before anything of it is written;
        ``StaleOwner`` for the partitions whose token is not the current epoch."""
        ...

    async def plan(self, topic: str, partition: int) -> str | None:
        """The decisions recorded with the half-applied batch, if any."""
        ...

    async def commit(
        self, topic: str, ends: dict[int, int], events: Mapping[int, int] | None = None
    ) -> None:
        """Move the fences to the batch ends (never backwards) and drop the intents;
        ``StaleOwner`` for the partitions whose token is not the current epoch. ``events``
        (per partition) is added to the partition's event count with the fence move."""
        ...


class ProgressStore:
    """``Progress`` in Redis: one hash per partition (``keys.partition_progress``)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self.tokens: dict[tuple[str, int], int] = {}  # (topic, partition) -> epoch claimed
        self._claim = client.register_script(script("progress_claim.lua"))
        self._begin = client.register_script(script("progress_begin.lua"))
        self._commit = client.register_script(script("progress_commit.lua"))

    async def progress(self, topic: str, partition: int) -> tuple[int, int]:
        """(fence, intent_end): last offset fully applied, and a batch left half-applied."""
        fence, intent = await self.redis.hmget(
            keys.partition_progress(topic, partition), ["fence", "intent_end"]
        )
        return int(fence or -1), int(intent or -1)

    async def claim(self, topic: str, partition: int) -> tuple[int, int]:
        fence, intent, epoch = await self._claim(keys=[keys.partition_progress(topic, partition)])
        self.tokens[(topic, partition)] = int(epoch)
        return int(fence), int(intent)

    def holds(self, topic: str, partition: int) -> bool:
        return (topic, partition) in self.tokens

    def forget_token(self, topic: str, partition: int) -> None:
        self.tokens.pop((topic, partition), None)

    async def _fenced(self, stage: str, topic: str, calls: dict[int, list[Any]]) -> None:
        """One fenced script per partition key (``calls``: partition -> args after the
        token), in one round trip; ``StaleOwner`` names every partition refused."""
        run = self._begin if stage == "begin" else self._commit
        refused = [p for p in calls if (topic, p) not in self.tokens]
        held = [p for p in calls if (topic, p) in self.tokens]
        if held:
            async with self.redis.pipeline(transaction=False) as pipe:
                for partition in held:
                    await run(
                        keys=[keys.partition_progress(topic, partition)],
                        args=[self.tokens[(topic, partition)], *calls[partition]],
                        client=pipe,
                    )
                answers = await pipe.execute()
            refused += [p for p, ok in zip(held, answers, strict=True) if not int(ok)]
        if refused:
            raise StaleOwner(topic, refused, stage)

    async def begin(
        self, topic: str, ends: dict[int, int], plans: Mapping[int, str | bytes] | None = None
    ) -> None:
        """Record each partition's batch end (and, where decisions depend on state that a
        half-applied batch moves, the decisions) before anything of the batch is written."""
        calls: dict[int, list[Any]] = {}
        for partition, end in ends.items():
            calls[partition] = [end]
            if plans is not None and partition in plans:
                calls[partition].append(plans[partition])
        await self._fenced("begin", topic, calls)

    async def plan(self, topic: str, partition: int) -> str | None:
        raw = await self.redis.hget(keys.partition_progress(topic, partition), "intent_plan")
        return text(raw) if raw is not None else None

    async def commit(
        self, topic: str, ends: dict[int, int], events: Mapping[int, int] | None = None
    ) -> None:
        calls = {p: [end] if events is None else [end, events[p]] for p, end in ends.items()}
        await self._fenced("commit", topic, calls)
