"""The progress audit: every few seconds the worker compares what Redis holds of the
partitions it owns with what it saw acknowledged, so an idle worker learns of a Redis
that went back in time (``streams.state.progress.LostWrites``) without waiting for its
next batch, and stops to have the lost records replayed (``streams.worker.rewind``)."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from streams.state.progress import LostWrites, Progress
from streams.worker.guard import stop_for_lost_writes

log = logging.getLogger(__name__)

AUDIT_EVERY_S = 2.0  # one pipelined HMGET per owned partition


async def audit_once(store: Progress) -> None:
    try:
        await store.audit()
    except RedisError:
        pass  # an outage: the agents ride it out, the next audit looks again
    except LostWrites as lost:
        stop_for_lost_writes(lost)


def register(app: Any, store: Progress) -> None:
    @app.timer(AUDIT_EVERY_S, name="progress-audit")
    async def progress_audit() -> None:
        await audit_once(store)
