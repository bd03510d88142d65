"""The fuser: takes users whose source lists changed off the due queue (oldest first,
any worker's) and stores their served lists; when the popular list's order or the
catalogue changes, re-fuses the longest-unfused users at a bounded rate.

Redis in, Redis out: it runs in a process of its own by default
(``streams.worker.lists_process``), or as a task on the worker's event loop."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.engines.served import Fuser
from streams.settings import ServedSettings
from streams.state import keys
from streams.state.served import ServedStore
from streams.state.toolkit import Busy

POPULAR_EVERY_S = 1.0  # how often the popular list and the catalogue are compared
BACKFILL_PAGE = 1000


class FuseReport(Protocol):
    """Where the fuser's figures go: this process's metrics, or the worker's (a relay)."""

    def fused(self, cause: str, users: int, ages: list[float]) -> None: ...

    def due(self, users: int) -> None: ...

    def redis_error(self, stage: str) -> None: ...


class LocalReport:
    """The figures into this process's Prometheus metrics."""

    def fused(self, cause: str, users: int, ages: list[float]) -> None:
        metrics.SERVED_FUSED.labels(cause).inc(users)
        for age in ages:
            metrics.SERVED_FRESHNESS.observe(age)

    def due(self, users: int) -> None:
        metrics.SERVED_DUE.set(users)

    def redis_error(self, stage: str) -> None:
        metrics.REDIS_ERRORS.labels(stage).inc()


async def fuse_due(store: ServedStore, fuser: Fuser, round_max: int, report: FuseReport) -> int:
    """One round: pop, fuse, store; returns how many users it took. A failed round puts
    its users back on the queue under their old times."""
    async with Busy(store.redis, keys.FUSE_ROUND):
        due = await store.pop_due(round_max)
        if not due:
            return 0
        try:
            await fuser.fuse([user for user, _at in due])
        except RedisError:  # counted by the caller
            with contextlib.suppress(RedisError):
                await store.queue_due(due)
            raise
    now = time.time()
    report.fused("source", len(due), [max(0.0, now - at) for _user, at in due])
    return len(due)


async def backfill(store: ServedStore) -> int:
    """A store without a popular document has never had a fuser (a first start, or an
    upgrade from a version without served lists): queue every known user once."""
    if await store.read_popular() is not None:
        return 0
    cursor, queued = 0, 0
    while True:
        cursor, users = await store.unserved_users(cursor, BACKFILL_PAGE)
        if users:
            await store.queue_due([(u, time.time()) for u in users])
            queued += len(users)
        if cursor == 0:
            return queued


async def fuse_forever(
    settings: ServedSettings,
    store: ServedStore,
    fuser: Fuser,
    report: FuseReport,
    stopped: Callable[[], bool],
    sleep: Callable[[float], Awaitable[Any]],
) -> None:
    """Fuse what is due until ``stopped()``. Lists fused before the popular list or the
    catalogue last changed are re-fused a few a second while users come due, and a whole
    round at each poll once nothing came due for a second (the worker is quiet)."""
    per_second = int(settings.popular_refresh_per_s * POPULAR_EVERY_S)

    async def refuse_outdated(limit: int) -> int:
        outdated = await store.fused_before(fuser.changed_at, limit) if limit else []
        await fuser.fuse(outdated)
        report.fused("popular", len(outdated), [])
        return len(outdated)

    started, quiet, came_due = False, False, 0
    compared = 0.0
    while not stopped():
        try:
            if not started:
                await backfill(store)
                started = True
            if time.monotonic() - compared >= POPULAR_EVERY_S:
                compared = time.monotonic()
                quiet, came_due = came_due == 0, 0
                await fuser.refresh_globals()
                await refuse_outdated(per_second)
                report.due(await store.due_count())
            taken = await fuse_due(store, fuser, settings.round_max, report)
            came_due += taken
            if not taken and quiet:
                taken = await refuse_outdated(settings.round_max)
        except RedisError:
            report.redis_error("served")
            await sleep(1.0)
            continue
        if taken < settings.round_max:
            await sleep(settings.interval_s)


def register(app: faust.App, settings: ServedSettings, store: ServedStore, fuser: Fuser) -> Any:
    """The fuser as a task on the worker's event loop (``STREAMREC_LISTS_PROCESS=false``)."""

    @app.task
    async def fuse_served() -> None:
        report, stopped = LocalReport(), lambda: app.should_stop
        await fuse_forever(settings, store, fuser, report, stopped, app.sleep)

    return fuse_served
