"""The refresher: recomputes lists that other users' events made stale, oldest first,
within a bounded budget per tick so that it never starves the event path."""

from __future__ import annotations

from typing import Any

import faust

from streams import metrics
from streams.engine import Engine
from streams.settings import WorkerSettings


def register(app: faust.App, settings: WorkerSettings, engine: Engine) -> Any:
    @app.timer(settings.refresh_interval_s, name="refresher")
    async def refresh_stale() -> None:
        if settings.refresh_budget:
            users = await engine.store.pop_stale(settings.refresh_budget)
            if users:
                await engine.refresh(users)
        metrics.STALE_LISTS.set(await engine.store.stale_count())

    return refresh_stale
