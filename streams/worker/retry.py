"""Retrying through Redis outages, shared by every agent that must not lose a batch."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from streams import metrics

log = logging.getLogger(__name__)
T = TypeVar("T")


async def through_outages(stage: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` until Redis answers, backing off up to 5 s. The fences make a
    retry harmless, so an unreachable Redis stalls the agent (and raises the error
    counter and the lag) instead of killing it or losing the batch."""
    delay = 0.1
    while True:
        try:
            return await attempt()
        except RedisError as exc:
            metrics.REDIS_ERRORS.labels(stage).inc()
            log.warning("redis error in %s, retrying in %.1fs: %s", stage, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
