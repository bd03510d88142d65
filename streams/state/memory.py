"""In-process implementations of the state interfaces, for tests of the logic around
them (the exactly-once cutter above all) without Redis: same contract, a dict inside."""

from __future__ import annotations

from collections.abc import Mapping

from streams.state.progress import Progress, StaleOwner


class MemoryProgress:
    """``Progress`` in a dict, keyed by (topic, partition) like the Redis hashes.

    The hashes stand for Redis, the tokens for one process: ``another_process()`` is a
    second worker on the same state (its own tokens), as two processes on one Redis."""

    def __init__(self, hashes: dict[tuple[str, int], dict[str, int | str]] | None = None) -> None:
        self.hashes: dict[tuple[str, int], dict[str, int | str]] = {} if hashes is None else hashes
        self.tokens: dict[tuple[str, int], int] = {}

    def another_process(self) -> MemoryProgress:
        return MemoryProgress(self.hashes)

    async def progress(self, topic: str, partition: int) -> tuple[int, int]:
        h = self.hashes.get((topic, partition), {})
        return int(h.get("fence", -1)), int(h.get("intent_end", -1))

    async def claim(self, topic: str, partition: int) -> tuple[int, int]:
        h = self.hashes.setdefault((topic, partition), {})
        h["epoch"] = epoch = int(h.get("epoch", 0)) + 1
        self.tokens[(topic, partition)] = epoch
        return int(h.get("fence", -1)), int(h.get("intent_end", -1))

    def holds(self, topic: str, partition: int) -> bool:
        return (topic, partition) in self.tokens

    def forget_token(self, topic: str, partition: int) -> None:
        self.tokens.pop((topic, partition), None)

    def _owned(self, topic: str, partition: int) -> dict[str, int | str] | None:
        """The partition's hash if this process's token is its current epoch."""
        h = self.hashes.get((topic, partition))
        token = self.tokens.get((topic, partition))
        if h is None or token is None or int(h.get("epoch", 0)) != token:
            return None
        return h

    async def begin(
        self, topic: str, ends: dict[int, int], plans: Mapping[int, str | bytes] | None = None
    ) -> None:
        refused = []
        for partition, end in ends.items():  # each partition on its own, as in Redis
            h = self._owned(topic, partition)
            if h is None:
                refused.append(partition)
                continue
            h["intent_end"] = end
            if plans is not None and partition in plans:
                plan = plans[partition]
                h["intent_plan"] = plan.decode() if isinstance(plan, bytes) else plan
        if refused:
            raise StaleOwner(topic, refused, "begin")

    async def plan(self, topic: str, partition: int) -> str | None:
        plan = self.hashes.get((topic, partition), {}).get("intent_plan")
        return None if plan is None else str(plan)

    async def commit(
        self, topic: str, ends: dict[int, int], events: Mapping[int, int] | None = None
    ) -> None:
        refused = []
        for partition, end in ends.items():
            h = self._owned(topic, partition)
            if h is None:
                refused.append(partition)
                continue
            if int(h.get("fence", -1)) < end:  # never backwards
                h["fence"] = end
                if events is not None:
                    h["events"] = int(h.get("events", 0)) + events[partition]
            if int(h.get("intent_end", -1)) <= end:  # the intent this commit closes
                h.pop("intent_end", None)
                h.pop("intent_plan", None)
        if refused:
            raise StaleOwner(topic, refused, "commit")


def _conforms(store: MemoryProgress) -> Progress:  # mypy checks the interface here
    return store
