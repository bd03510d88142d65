"""Fail-stop for agents: an unexpected exception ends the process, never just the agent.

Faust restarts a crashed agent and goes on consuming, so the records of the batch that
raised would be passed over while later ones are applied and committed: an unapplied
record behind a committed offset, lost for good. Input cannot cause that any more (every
parser is total and dead-letters instead), so what is left is a bug or a broken
invariant, and the safe answer is the one the fences are built for: stop as ``kill -9``
would, with nothing more acknowledged, and let the supervisor restart the worker, which
redoes the batch from the committed offsets. (No metric: the process is gone before a
scrape; the log line and the exit code 70 say it, and the restart count shows it.)

Redis losing acknowledged writes (``LostWrites``) stops the worker the same way, with
its own message and exit code 69: the restart replays the lost records
(``streams.worker.rewind``), which no running process can do safely.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from streams.state.progress import LostWrites

log = logging.getLogger(__name__)

EXIT_CODE = 70  # EX_SOFTWARE: an internal error, restart me
EXIT_LOST_WRITES = 69  # EX_UNAVAILABLE: Redis went back in time, restart me to replay


def _exit(code: int) -> None:  # replaced in tests
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(code)


def stop_for_lost_writes(lost: LostWrites) -> None:
    """Stop at once: later batches must not be applied over the hole, and only a new
    assignment can move the committed offsets back (``streams.worker.rewind``)."""
    log.critical("%s; stopping the worker: its restart replays the lost records from the log", lost)
    _exit(EXIT_LOST_WRITES)


def fail_stop(
    stage: str, app: Any = None
) -> Callable[[Callable[[Any], Awaitable[None]]], Callable[[Any], Awaitable[None]]]:
    """Wrap an agent function so that an exception stops the whole worker at once."""

    def wrap(agent: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
        @functools.wraps(agent)
        async def guarded(stream: Any) -> None:
            try:
                await agent(stream)
            except LostWrites as lost:
                stop_for_lost_writes(lost)
            except Exception:
                if app is not None and getattr(app, "should_stop", False):
                    raise  # shutting down: Faust's own stop handles it
                log.critical(
                    "agent %s failed; stopping the worker so that no offset passes an "
                    "unapplied record (a restart redoes the batch)",
                    stage,
                    exc_info=True,
                )
                _exit(EXIT_CODE)

        return guarded

    return wrap
