"""Fail-stop for agents: an unexpected exception ends the process, never just the agent.

Faust restarts a crashed agent and goes on consuming, so the records of the batch that
raised would be passed over while later ones are applied and committed: an unapplied
record behind a committed offset, lost for good. Input cannot cause that any more (every
parser is total and dead-letters instead), so what is left is a bug or a broken
invariant, and the safe answer is the one the fences are built for: stop as ``kill -9``
would, with nothing more acknowledged, and let the supervisor restart the worker, which
redoes the batch from the committed offsets. (No metric: the process is gone before a
scrape; the log line and the exit code 70 say it, and the restart count shows it.)
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

EXIT_CODE = 70  # EX_SOFTWARE: an internal error, restart me


def _exit(code: int) -> None:  # replaced in tests
    os._exit(code)


def fail_stop(
    stage: str, app: Any = None
) -> Callable[[Callable[[Any], Awaitable[None]]], Callable[[Any], Awaitable[None]]]:
    """Wrap an agent function so that an exception stops the whole worker at once."""

    def wrap(agent: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
        @functools.wraps(agent)
        async def guarded(stream: Any) -> None:
            try:
                await agent(stream)
            except Exception:
                if app is not None and getattr(app, "should_stop", False):
                    raise  # shutting down: Faust's own stop handles it
                log.critical(
                    "agent %s failed; stopping the worker so that no offset passes an "
                    "unapplied record (a restart redoes the batch)",
                    stage,
                    exc_info=True,
                )
                for handler in logging.getLogger().handlers:
                    handler.flush()
                _exit(EXIT_CODE)

        return guarded

    return wrap
