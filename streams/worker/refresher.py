"""The refresher: recomputes lists that other users' events made stale, oldest first,
within a bounded budget per tick so that it never starves the event path."""

from __future__ import annotations

import contextlib
from typing import Any

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.engines.usercf import Engine
from streams.settings import WorkerSettings


def register(app: faust.App, settings: WorkerSettings, engine: Engine) -> Any:
    @app.timer(settings.refresh_interval_s, name="refresher")
    async def refresh_stale() -> None:
        users: list[str] = []
        try:
            if settings.refresh_budget:
                users = await engine.store.pop_stale(settings.refresh_budget)
                if users:
                    await engine.refresh(users)
            metrics.STALE_LISTS.set(await engine.store.stale_count())
        except RedisError:
            metrics.REDIS_ERRORS.labels("refresher").inc()
            with contextlib.suppress(RedisError):  # give them back for the next tick
                await engine.store.publish_derived({}, {}, set(users))
        for tp in app.consumer.assignment():
            key = (tp.topic, tp.partition)
            known = [metrics.processed.get(key)]
            known += [path.get(key) for path in metrics.path_processed.values()]
            seen = [offset for offset in known if offset is not None]
            if seen:
                done = min(seen)
                end = app.consumer.highwater(tp)
                lag = max(0, end - done - 1) if end is not None else 0
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)

    return refresh_stale
