"""In-process implementations of the state interfaces, for tests of the logic around
them (the exactly-once cutter above all) without Redis: same contract, a dict inside."""

from __future__ import annotations

from collections.abc import Mapping

from streams.state.progress import Progress


class MemoryProgress:
    """``Progress`` in a dict, keyed by (topic, partition) like the Redis hashes."""

    def __init__(self) -> None:
        self.hashes: dict[tuple[str, int], dict[str, int | str]] = {}

    async def progress(self, topic: str, partition: int) -> tuple[int, int]:
        h = self.hashes.get((topic, partition), {})
        return int(h.get("fence", -1)), int(h.get("intent_end", -1))

    async def begin(
        self, topic: str, ends: dict[int, int], plans: Mapping[int, str | bytes] | None = None
    ) -> None:
        for partition, end in ends.items():
            h = self.hashes.setdefault((topic, partition), {})
            h["intent_end"] = end
            if plans is not None and partition in plans:
                plan = plans[partition]
                h["intent_plan"] = plan.decode() if isinstance(plan, bytes) else plan

    async def plan(self, topic: str, partition: int) -> str | None:
        plan = self.hashes.get((topic, partition), {}).get("intent_plan")
        return None if plan is None else str(plan)

    async def commit(self, topic: str, ends: dict[int, int]) -> None:
        for partition, end in ends.items():
            h = self.hashes.setdefault((topic, partition), {})
            h["fence"] = end
            h.pop("intent_end", None)
            h.pop("intent_plan", None)


def _conforms(store: MemoryProgress) -> Progress:  # mypy checks the interface here
    return store
