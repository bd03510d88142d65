"""In-process implementations of the state interfaces, for tests of the logic around
them (the exactly-once cutter above all) without Redis: same contract, a dict inside."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from streams.state.progress import LostWrites, Progress, answer
from streams.state.similar_due import Due

Hashes = dict[tuple[str, int], dict[str, int | str]]


class Server:
    """What stands for Redis: the progress hashes and the run id of the server holding
    them (a failover or a restart gives another)."""

    def __init__(self) -> None:
        self.hashes: Hashes = {}
        self.run = "run-1"

    def snapshot(self) -> Hashes:
        return copy.deepcopy(self.hashes)

    def fail_over(self, to: Hashes) -> None:
        """Another server takes over holding ``to`` (what a lagging replica had): every
        write since that snapshot is lost."""
        self.hashes.clear()
        self.hashes.update(copy.deepcopy(to))
        self.run = f"run-{int(self.run.split('-')[1]) + 1}"


class MemoryProgress:
    """``Progress`` in a dict, keyed by (topic, partition) like the Redis hashes.

    The server stands for Redis, the tokens for one process: ``another_process()`` is a
    second worker on the same state (its own tokens), as two processes on one Redis."""

    def __init__(self, server: Server | None = None) -> None:
        self.server = Server() if server is None else server
        self.tokens: dict[tuple[str, int], int] = {}
        self.seen: dict[tuple[str, int], int] = {}  # the fence claimed or last committed

    @property
    def hashes(self) -> Hashes:
        return self.server.hashes

    def another_process(self) -> MemoryProgress:
        return MemoryProgress(self.server)

    async def progress(self, topic: str, partition: int) -> tuple[int, int]:
        h = self.hashes.get((topic, partition), {})
        return int(h.get("fence", -1)), int(h.get("intent_end", -1))

    async def claim(self, topic: str, partition: int) -> tuple[int, int]:
        h = self.hashes.setdefault((topic, partition), {})
        h["epoch"] = epoch = int(h.get("epoch", 0)) + 1
        self.tokens[(topic, partition)] = epoch
        self.seen[(topic, partition)] = int(h.get("fence", -1))
        return int(h.get("fence", -1)), int(h.get("intent_end", -1))

    def holds(self, topic: str, partition: int) -> bool:
        return (topic, partition) in self.tokens

    def forget_token(self, topic: str, partition: int) -> None:
        self.tokens.pop((topic, partition), None)
        self.seen.pop((topic, partition), None)

    def _check(self, topic: str, partition: int) -> int:
        """As the scripts' first lines: 1 owned and current, 0 stale or never claimed,
        -1 lost writes (epoch below the token, or fence below the one last seen)."""
        token = self.tokens.get((topic, partition))
        if token is None:
            return 0
        h = self.hashes.get((topic, partition), {})
        epoch = int(h.get("epoch", 0))
        if epoch > token:
            return 0
        if epoch < token or int(h.get("fence", -1)) < self.seen[(topic, partition)]:
            return -1
        return 1

    async def begin(
        self, topic: str, ends: dict[int, int], plans: Mapping[int, str | bytes] | None = None
    ) -> None:
        outcome = {}
        for partition, end in ends.items():  # each partition on its own, as in Redis
            outcome[partition] = self._check(topic, partition)
            if outcome[partition] != 1:
                continue
            h = self.hashes[(topic, partition)]
            h["intent_end"], h["intent_run"] = end, self.server.run
            if plans is not None and partition in plans:
                plan = plans[partition]
                h["intent_plan"] = plan.decode() if isinstance(plan, bytes) else plan
        answer(topic, "begin", outcome)

    async def plan(self, topic: str, partition: int) -> str | None:
        plan = self.hashes.get((topic, partition), {}).get("intent_plan")
        return None if plan is None else str(plan)

    async def commit(
        self, topic: str, ends: dict[int, int], events: Mapping[int, int] | None = None
    ) -> None:
        outcome = {}
        for partition, end in ends.items():
            outcome[partition] = self._check(topic, partition)
            if outcome[partition] != 1:
                continue
            h = self.hashes[(topic, partition)]
            if int(h.get("fence", -1)) < end:  # never backwards
                if h.get("intent_run") != self.server.run:
                    outcome[partition] = -2  # begun on another server: redo from begin
                    continue
                h["fence"] = end
                if events is not None:
                    h["events"] = int(h.get("events", 0)) + events[partition]
            if int(h.get("intent_end", -1)) <= end:  # the intent this commit closes
                for field in ("intent_end", "intent_plan", "intent_run"):
                    h.pop(field, None)
            self.seen[(topic, partition)] = max(self.seen[(topic, partition)], end)
        answer(topic, "commit", outcome)

    async def advance(self, topic: str, ends: dict[int, int]) -> None:
        for partition, end in ends.items():
            h = self.hashes.setdefault((topic, partition), {})
            h["fence"] = max(int(h.get("fence", -1)), end)

    async def audit(self) -> None:
        for topic, partition in list(self.tokens):
            if self._check(topic, partition) == -1:
                raise LostWrites(topic, [partition], "audit")


class MemoryDue:
    """``streams.state.similar_due.Due`` in dicts, leases included; ``taken_log`` lists
    every item taken, in order."""

    LEASE_S = 30.0

    def __init__(self, kind: str = "cf") -> None:
        self.kind = kind
        self.due: dict[str, float] = {}
        self.taken: dict[str, float] = {}  # item → lease
        self.taken_log: list[str] = []

    async def defer_and_take(
        self, deferred: Mapping[str, float], until: float, now: float
    ) -> tuple[list[str], float]:
        for item in [i for i, lease in self.taken.items() if lease <= now]:
            self.due.setdefault(item, now)
            del self.taken[item]
        for item, at in deferred.items():
            self.due.setdefault(item, at)
        lease = now + self.LEASE_S
        out = [i for _t, i in sorted((t, i) for i, t in self.due.items() if t <= until)]
        for item in out:
            del self.due[item]
            self.taken[item] = lease
        self.taken_log += out
        return out, lease

    async def done(self, items: list[str], lease: float) -> None:
        for item in items:
            if self.taken.get(item) == lease:
                del self.taken[item]

    async def any_due(self, until: float, now: float) -> bool:
        return any(t <= until for t in self.due.values()) or any(
            t <= now for t in self.taken.values()
        )

    async def owed(self) -> tuple[int, int]:
        return len(self.due), len(self.taken)


def _conforms(store: MemoryProgress) -> Progress:  # mypy checks the interface here
    return store


def _conforms_due(due: MemoryDue) -> Due:
    return due
