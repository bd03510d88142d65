"""Cutting a consumed batch into per-partition portions that a restart can cut again.

Per partition a fence says which offset is fully applied and, while a batch is being
applied, its end ("intent"); both live in a ``Progress`` store (Redis in the worker,
``streams.state.memory`` in tests). After a crash the half-applied batch is cut again at
exactly the same end, so the users and items whose own fences show it skip it and the
others apply it: nothing is counted twice or lost. Records past that end are cut in a
second round of the same call: on a quiet partition no later record would come to
carry them, and unacknowledged records would hold up every rebalance (Faust waits for
them). Shared by every agent that applies Kafka records to Redis state exactly once.

Ownership (issue 14, hole 1): the first batch of a partition claims it
(``Progress.claim``: a new owner epoch, this process's fencing token), and the
partition's ``begin`` and ``commit`` are refused (``StaleOwner``) once another worker
has claimed it since, e.g. after this one was paused past its session timeout. The
agents run each attempt through ``owned``: a refused partition is disowned, its records
are neither applied nor acknowledged (the new owner has them from the committed offset)
and it is not claimed again until Faust assigns it again, else two workers would take
it from each other in turn.

Data writes need no token: every state key written by a batch checks and sets its own
per-partition offset fence in the same Lua script (``streams/state/lua/apply_*.lua``:
applied only if the key's fence is below the batch end, then set to that end, so a
key's fence only ever grows). A stale owner writes a batch whose end the new owner
either redoes at exactly the same end (the intent it claimed) or has passed: each key
it reaches already shows that end or a later one and skips, or does not yet and gets
what the redo would write, from the same pre-batch state (users before items, the
recorded plan). What it must not do is move progress: a commit moving the fence
backwards, or a begin overwriting the new owner's intent or starting a batch cut at
another end (whose keys' fences would then let events through twice). Those two are
fenced by the token.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from streams import metrics
from streams.state.progress import Progress, StaleOwner
from streams.worker.retry import through_outages

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Cut:
    """One partition's portion of a round: its events (offset order) and their end."""

    partition: int
    end: int
    events: list[Any]
    redo: bool = False  # repeats a crashed batch: its recorded plan applies


class PartitionCursor:
    """What of one partition is applied (fence) and which batch end a restart must reuse."""

    def __init__(self, fence: int, intent: int) -> None:
        self.fence = fence
        self.intent = intent if intent > fence else -1
        self.received = fence  # the last offset received (or applied before): holes show
        self.pending: list[Any] = []  # only while collecting the records up to the intent


def abandon(event: Any) -> None:
    """Let go of a delivered record without acknowledging it: Kafka's committed offset
    stays before it (its next owner reads it again), and Faust stops counting it as in
    flight, whose wait for every in-flight record at a rebalance would otherwise never
    end (its ``acked`` flag is what that wait looks at, not the committed offsets)."""
    message = getattr(event, "message", None)
    if message is not None and hasattr(message, "acked"):
        message.acked = True


class PartitionBatcher:
    def __init__(self, store: Progress, progress_name: str) -> None:
        self.store = store
        self.progress_name = progress_name  # names the per-partition progress hashes
        self.cursors: dict[int, PartitionCursor] = {}
        self.lost: set[int] = set()  # refused as a stale owner, until assigned again

    def _let_go(self, partition: int) -> None:
        """Drop the partition's cursor (its pending records let go unacknowledged) and
        this process's token: whoever owns it next claims it."""
        for event in self.cursors.pop(partition, PartitionCursor(-1, -1)).pending:
            abandon(event)
        self.store.forget_token(self.progress_name, partition)

    def revoke(self, partition: int) -> None:
        """The partition is no longer ours (this worker may be its next owner again)."""
        self._let_go(partition)
        self.lost.discard(partition)

    def assign(self, partition: int) -> None:
        """Faust assigned the partition (again): a new ownership, claimed at its first
        batch; a partition lost as a stale owner is applied again from here."""
        self.revoke(partition)

    def disown(self, partitions: Iterable[int]) -> set[int]:
        """Another worker owns these partitions: apply and acknowledge none of their
        records and do not claim them until Faust assigns them again. Returns the
        partitions not already lost."""
        new = set()
        for partition in partitions:
            self._let_go(partition)
            if partition not in self.lost:
                self.lost.add(partition)
                new.add(partition)
        return new

    def follow_assignments(self, app: Any, topic: str) -> None:
        """Revoked partitions: drop cursors and tokens (their next owner claims them);
        assigned partitions: claimed afresh, lost ones are ours again."""

        @app.on_partitions_revoked.connect
        async def revoked(_app: Any, revoked: Any, **_kw: Any) -> None:
            for tp in revoked:
                if tp.topic == topic:
                    self.revoke(tp.partition)

        @app.on_partitions_assigned.connect
        async def assigned(_app: Any, assigned: Any, **_kw: Any) -> None:
            for tp in assigned:
                if tp.topic == topic:
                    self.assign(tp.partition)

    async def cut(self, batch: list[Any], ack: Callable[[Any], Awaitable[Any]]) -> list[list[Cut]]:
        """Rounds to apply in order, each a batch (at most one portion per partition).

        Already applied events are acknowledged on the spot; a lost partition's are
        neither applied nor acknowledged. A partition with a crashed
        batch yields the redo (up to the recorded end) in the first round and what
        follows it in the second; until its records reach that end it yields nothing
        and keeps them. Every other event is in the first round."""
        by_partition: dict[int, list[Any]] = {}
        for event in batch:
            by_partition.setdefault(event.message.partition, []).append(event)
        first: list[Cut] = []
        second: list[Cut] = []
        for partition, events in by_partition.items():
            if partition in self.lost:  # left to the owner that claimed it since
                for event in events:
                    abandon(event)
                continue
            cursor = self.cursors.get(partition)
            if cursor is None:
                # no cursor: a partition new to this process (or assigned again), claimed.
                # A Redis outage here must stall the path, not stop the worker (a retried
                # claim just takes one more epoch).
                claim = functools.partial(self.store.claim, self.progress_name, partition)
                fence, intent = await through_outages("progress", claim)
                cursor = self.cursors[partition] = PartitionCursor(fence, intent)
            for event in events:
                if event.message.offset <= cursor.fence:
                    await ack(event)  # applied before a restart
                else:
                    self._check_contiguous(partition, cursor, event.message.offset)
                    cursor.pending.append(event)
            if not cursor.pending:
                continue
            units, cursor.pending = cursor.pending, []
            if cursor.intent < 0:
                first.append(Cut(partition, units[-1].message.offset, units))
                continue
            if units[-1].message.offset < cursor.intent:
                cursor.pending = units  # keep collecting: the redo ends where the crash did
                continue
            redo = [e for e in units if e.message.offset <= cursor.intent]
            first.append(Cut(partition, cursor.intent, redo, redo=True))
            if rest := units[len(redo) :]:
                second.append(Cut(partition, rest[-1].message.offset, rest))
        return [r for r in (first, second) if r]

    def _check_contiguous(self, partition: int, cursor: PartitionCursor, offset: int) -> None:
        """The records after a fence come next: the ratings and by-item logs are neither
        compacted nor transactional, so their offsets have no holes of their own. A record
        past ``fence + 1`` means the committed offset passed records this path never
        applied: say so loudly (nothing here can bring them back)."""
        if cursor.received >= 0 and offset > cursor.received + 1:
            metrics.OFFSET_HOLES.labels(self.progress_name).inc(offset - cursor.received - 1)
            log.error(
                "%s partition %d: records %d..%d were never received (the committed "
                "offset passed them unapplied)",
                self.progress_name,
                partition,
                cursor.received + 1,
                offset - 1,
            )
        cursor.received = max(cursor.received, offset)

    def applied(self, ends: dict[int, int]) -> None:
        for partition, end in ends.items():
            cursor = self.cursors.get(partition)
            if cursor is not None:  # None: revoked meanwhile, the next owner reads Redis
                cursor.fence, cursor.intent = end, -1


@dataclass
class Owned(Generic[T]):
    """What an attempt applied as the partitions' owner: acknowledge ``cut``'s records
    (and only those), finish with ``result``."""

    cut: list[Cut]
    result: T


async def owned(
    batcher: PartitionBatcher,
    cut: list[Cut],
    attempt: Callable[[list[Cut]], Awaitable[T]],
    *,
    path: str,
) -> Owned[T] | None:
    """Run ``attempt(cut)`` (begin, apply, commit of one round, retried through outages)
    as the partitions' owner. When another worker has claimed some of them since
    (``StaleOwner``), those are disowned (warned once per partition, counted in
    ``streamrec_stale_owner_refusals_total{path}``), their records let go unacknowledged,
    and the attempt runs again on the rest: harmless, as every retry, behind the fences,
    and it gives the result of what is still ours. ``None``: nothing of the cut is ours,
    acknowledge nothing."""
    while True:
        mine = [c for c in cut if c.partition not in batcher.lost]
        for c in cut:
            if c.partition in batcher.lost:
                for event in c.events:
                    abandon(event)
        if not mine:
            return None
        cut = mine
        try:
            return Owned(cut, await attempt(cut))
        except StaleOwner as refused:
            if not set(refused.partitions) & {c.partition for c in cut}:
                raise  # not this cut's partitions: a bug, not a stale owner
            metrics.STALE_OWNER_REFUSALS.labels(path).inc(len(refused.partitions))
            for partition in sorted(batcher.disown(refused.partitions)):
                log.warning(
                    "%s: partition %d of %s was claimed by another worker (this one was "
                    "paused past its session timeout?); %s refused, its records are left "
                    "to the new owner until Faust assigns the partition here again",
                    path,
                    partition,
                    batcher.progress_name,
                    refused.stage,
                )
