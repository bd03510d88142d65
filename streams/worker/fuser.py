"""The fuser task: takes users whose source lists changed off the due queue (oldest
first, any worker's) and stores their served lists; when the popular list's order
or the catalogue changes, re-fuses the longest-unfused users at a bounded rate."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.engines.served import Fuser
from streams.settings import ServedSettings
from streams.state.served import ServedStore
from streams.worker.inflight import QuietSince

POPULAR_EVERY_S = 1.0  # how often the popular list and the catalogue are compared
BACKFILL_PAGE = 1000


async def fuse_due(store: ServedStore, fuser: Fuser, round_max: int) -> int:
    """One round: pop, fuse, store; returns how many users it took. A failed round puts
    its users back on the queue under their old times."""
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
    for _user, at in due:
        metrics.SERVED_FRESHNESS.observe(max(0.0, now - at))
    metrics.SERVED_FUSED.labels("source").inc(len(due))
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


def register(app: faust.App, settings: ServedSettings, store: ServedStore, fuser: Fuser) -> Any:
    # lists fused before the popular list or the catalogue last changed: a few a second
    # while records come in, a whole round at each poll once the worker is quiet (no
    # record handled for a second, none in flight: the refresher's test)
    per_second = int(settings.popular_refresh_per_s * POPULAR_EVERY_S)

    async def refuse_outdated(limit: int) -> int:
        outdated = await store.fused_before(fuser.changed_at, limit) if limit else []
        await fuser.fuse(outdated)
        metrics.SERVED_FUSED.labels("popular").inc(len(outdated))
        return len(outdated)

    @app.task
    async def fuse_served() -> None:
        started, quiet = False, False
        compared, since_last_look = 0.0, QuietSince()
        while not app.should_stop:
            try:
                if not started:
                    await backfill(store)
                    started = True
                if time.monotonic() - compared >= POPULAR_EVERY_S:
                    compared = time.monotonic()
                    quiet = since_last_look.look()
                    await fuser.refresh_globals()
                    await refuse_outdated(per_second)
                    metrics.SERVED_DUE.set(await store.due_count())
                taken = await fuse_due(store, fuser, settings.round_max)
                if not taken and quiet:
                    taken = await refuse_outdated(settings.round_max)
            except RedisError:
                metrics.REDIS_ERRORS.labels("served").inc()
                await app.sleep(1.0)
                continue
            if taken < settings.round_max:
                await app.sleep(settings.interval_s)

    return fuse_served
