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
the worker. ``progress`` and ``plan`` stay plain reads (tools, the cutter's re-read).

Lost writes (issue 15): the same token and the fence this process last saw tell when
Redis has gone back in time under it (a failover to a lagging replica, a restart without
the append-only file, an older snapshot restored): a stored epoch below the token, or a
fence below what this process committed. ``begin``, ``commit`` and ``audit`` raise
``LostWrites`` then; the worker stops and its restart replays the log from Redis's
fences (``streams.worker.rewind``). A batch whose begin is on another server than its
commit (``intent_run``, the server's run id) is redone from its begin (``ServerChanged``):
its writes before the change may be gone with the old server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

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


class LostWrites(Exception):
    """Redis no longer holds progress this process saw acknowledged: it lost writes. Not
    a ``RedisError``: a retry would apply later batches over the hole. The worker stops;
    after its restart, ``streams.worker.rewind`` replays the log from Redis's fences."""

    def __init__(self, topic: str, partitions: list[int], stage: str) -> None:
        self.topic = topic
        self.partitions = sorted(partitions)
        self.stage = stage  # "begin", "commit" or "audit"
        super().__init__(
            f"{stage} on {topic} partitions {self.partitions}: Redis no longer holds "
            "progress it acknowledged (a failover to a lagging replica, a restart without "
            "the append-only file, or an older snapshot restored)"
        )


class ServerChanged(RedisError):
    """A batch's commit reached another Redis server than its begin (a failover or a
    restart in between): writes of the batch may be gone with the old one. A
    ``RedisError``, so ``through_outages`` redoes the attempt from its begin, behind the
    fences (what survived is skipped, what was lost is written again)."""


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

    async def advance(self, topic: str, ends: dict[int, int]) -> None:
        """Move the fences forward (never back), with no token: for a path whose writes
        are idempotent, so that a rewind knows what Redis holds of it."""
        ...

    async def audit(self) -> None:
        """``LostWrites`` if any partition this process holds has gone back in time (an
        idle worker learns of a failover before its next batch)."""
        ...


class ProgressStore:
    """``Progress`` in Redis: one hash per partition (``keys.partition_progress``).
    ``barrier`` (``clients.ReplicaBarrier``) waits for the replicas after a begin and
    before a commit: the intent is durable before any data is written, the data before
    the fence moves."""

    barrier: Callable[[], Awaitable[None]] | None = None

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self.tokens: dict[tuple[str, int], int] = {}  # (topic, partition) -> epoch claimed
        self.seen: dict[tuple[str, int], int] = {}  # the fence claimed or last committed
        self._claim = client.register_script(script("progress_claim.lua"))
        self._begin = client.register_script(script("progress_begin.lua"))
        self._commit = client.register_script(script("progress_commit.lua"))
        self._advance = client.register_script(script("progress_advance.lua"))

    async def progress(self, topic: str, partition: int) -> tuple[int, int]:
        """(fence, intent_end): last offset fully applied, and a batch left half-applied."""
        fence, intent = await self.redis.hmget(
            keys.partition_progress(topic, partition), ["fence", "intent_end"]
        )
        return int(fence or -1), int(intent or -1)

    async def claim(self, topic: str, partition: int) -> tuple[int, int]:
        fence, intent, epoch = await self._claim(keys=[keys.partition_progress(topic, partition)])
        self.tokens[(topic, partition)] = int(epoch)
        self.seen[(topic, partition)] = int(fence)
        return int(fence), int(intent)

    def holds(self, topic: str, partition: int) -> bool:
        return (topic, partition) in self.tokens

    def forget_token(self, topic: str, partition: int) -> None:
        self.tokens.pop((topic, partition), None)
        self.seen.pop((topic, partition), None)

    async def _fenced(self, stage: str, topic: str, calls: dict[int, list[Any]]) -> dict[int, int]:
        """One fenced script per partition key (``calls``: partition -> args after the
        token and the fence last seen), in one round trip: each partition's answer."""
        run = self._begin if stage == "begin" else self._commit
        held = [p for p in calls if (topic, p) in self.tokens]
        answers: list[Any] = []
        if held:
            async with self.redis.pipeline(transaction=False) as pipe:
                for partition in held:
                    await run(
                        keys=[keys.partition_progress(topic, partition)],
                        args=[
                            self.tokens[(topic, partition)],
                            self.seen[(topic, partition)],
                            *calls[partition],
                        ],
                        client=pipe,
                    )
                answers = await pipe.execute()
        outcome = dict(zip(held, (int(a) for a in answers), strict=True))
        outcome.update({p: 0 for p in calls if p not in outcome})  # no token: refused
        return outcome

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
        answer(topic, "begin", await self._fenced("begin", topic, calls))
        if self.barrier is not None:
            await self.barrier()

    async def plan(self, topic: str, partition: int) -> str | None:
        raw = await self.redis.hget(keys.partition_progress(topic, partition), "intent_plan")
        return text(raw) if raw is not None else None

    async def commit(
        self, topic: str, ends: dict[int, int], events: Mapping[int, int] | None = None
    ) -> None:
        calls = {p: [end] if events is None else [end, events[p]] for p, end in ends.items()}
        if self.barrier is not None:
            await self.barrier()
        outcome = await self._fenced("commit", topic, calls)
        for partition in (p for p, a in outcome.items() if a == 1):
            key = (topic, partition)
            if key in self.seen:  # else revoked meanwhile: the next claim reads the fence
                self.seen[key] = max(self.seen[key], ends[partition])
        answer(topic, "commit", outcome)

    async def advance(self, topic: str, ends: dict[int, int]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition, end in ends.items():
                progress = keys.partition_progress(topic, partition)
                await self._advance(keys=[progress], args=[end], client=pipe)
            await pipe.execute()

    async def audit(self) -> None:
        # what this process expects, taken before the read: a claim or a commit landing
        # while the read is on its way raises the expectation past what was read
        expected = {key: (token, self.seen[key]) for key, token in self.tokens.items()}
        if not expected:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic, partition in expected:
                pipe.hmget(keys.partition_progress(topic, partition), ["epoch", "fence"])
            stored = await pipe.execute()
        behind: dict[str, list[int]] = {}
        for (key, (token, seen)), (epoch, fence) in zip(expected.items(), stored, strict=True):
            if int(epoch or 0) < token or int(fence or -1) < seen:
                behind.setdefault(key[0], []).append(key[1])
        for topic, partitions in behind.items():
            raise LostWrites(topic, partitions, "audit")


def answer(topic: str, stage: str, outcome: dict[int, int]) -> None:
    """Raises for the partitions a fenced script did not record (1), the gravest first:
    lost writes (-1), a batch begun on another server (-2), a stale owner (0)."""
    if lost := [p for p, a in outcome.items() if a == -1]:
        raise LostWrites(topic, lost, stage)
    if moved := [p for p, a in outcome.items() if a == -2]:
        raise ServerChanged(
            f"{stage} on {topic} partitions {sorted(moved)}: the batch began on another "
            "Redis server (a failover or a restart since); redoing it from its begin"
        )
    if refused := [p for p, a in outcome.items() if a == 0]:
        raise StaleOwner(topic, refused, stage)
