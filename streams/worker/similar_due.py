"""The worker's timer for similar lists whose pace put them off (``streams.engines.pace``):
when no batch comes to re-score them (a quiet stream, the end of a replay), it does."""

from __future__ import annotations

from typing import Any, Protocol

from redis.exceptions import RedisError

from streams import metrics

TICK_S = 0.25  # how late past its due time a list may be, at most, on a quiet stream


class Paced(Protocol):
    async def rescore_due(self) -> int: ...


def register(app: Any, engines: list[Any]) -> None:
    paced: list[Paced] = [e for e in engines if getattr(e, "pace", None) and e.pace.every > 0]
    if not paced:
        return

    @app.timer(TICK_S, name="similar-due")
    async def similar_due() -> None:
        for engine in paced:
            try:
                await engine.rescore_due()
            except RedisError:  # an outage: what was taken waits for the item's next rating
                metrics.REDIS_ERRORS.labels("similar-due").inc()
