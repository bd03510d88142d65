"""The worker's timer for the similar lists their pace put off (``streams.engines.pace``):
what is due while the stream runs, at most every ``round_every`` per path, and everything
owed once the worker is quiet, so the end of a stream does not wait for the pace."""

from __future__ import annotations

import time
from typing import Any, Protocol

from redis.exceptions import RedisError

from streams import metrics
from streams.engines.pace import SimilarPace
from streams.worker.inflight import QuietSince
from streams.worker.refresher import every

TICK_S = 0.25
OWED_EVERY_S = 1.0  # how often the owed lists are counted for the gauge


class Paced(Protocol):
    pace: SimilarPace

    async def rescore_due(self, quiet: bool) -> int: ...


async def report_owed(engines: list[Paced]) -> None:
    """``streamrec_similar_owed`` per kind: a backlog that only grows says the timer's
    rounds cannot keep up with the items coming due (a pace too short for the load)."""
    for engine in engines:
        lists = engine.pace.due
        due, taken = await lists.owed()
        metrics.SIMILAR_OWED.labels(lists.kind, "due").set(due)
        metrics.SIMILAR_OWED.labels(lists.kind, "taken").set(taken)


def register(app: Any, engines: list[Paced]) -> None:
    """Every enabled path's timer, also at a pace of 0: it then drains only what a crash
    or an earlier setting left owed, which ``wait-idle`` would otherwise wait for."""
    if not engines:
        return
    since = QuietSince()
    counted = 0.0

    async def tick() -> None:
        nonlocal counted
        quiet = since.look()
        for engine in engines:
            try:
                await engine.rescore_due(quiet)
            except RedisError:  # an outage: what was taken comes back when its lease ends
                metrics.REDIS_ERRORS.labels("similar-due").inc()
        if time.monotonic() - counted >= OWED_EVERY_S:
            counted = time.monotonic()
            try:
                await report_owed(engines)
            except RedisError:
                metrics.REDIS_ERRORS.labels("similar-due").inc()

    @app.task
    async def similar_due() -> None:
        # a task, not a Faust timer: a round waits for a batch's lock and may run past
        # the tick, which a timer logs as overlapping every time
        await every(TICK_S, tick, app.sleep, lambda: app.should_stop)
