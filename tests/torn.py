"""A worker stopped mid-send, in process: pipelines that reach Redis only in part.

SIGTERM cancels the task inside a pipeline's ``execute`` and kill -9 stops it anywhere,
so Redis may have received any prefix of a batch's pipelined commands. ``Torn`` lets a
budget of them through, then raises as a dropped connection would; a test walks the
budget over every prefix and redoes the batch as the restarted worker would. With
``lose_replies`` a budget that ends exactly at a pipeline's last command lets the whole
pipeline land and loses its replies instead: Redis moved, the worker never learnt it."""

from __future__ import annotations

import pytest
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError


class Torn:
    """Lets ``budget`` pipelined commands through (``None``: all), then drops the
    connection: the commands past the budget never reach Redis."""

    def __init__(self, budget: int | None, lose_replies: bool = False) -> None:
        self.budget, self.sent, self.torn = budget, 0, False
        self.lose_replies = lose_replies

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        execute = Pipeline.execute
        torn = self

        async def limited(pipe: Pipeline, raise_on_error: bool = True):
            stack = pipe.command_stack
            left = None if torn.budget is None else torn.budget - torn.sent
            if left is not None and torn.lose_replies and left == len(stack) and stack:
                torn.sent += left
                torn.torn = True
                await execute(pipe, raise_on_error)
                raise RedisConnectionError("the worker stopped before the replies came")
            if left is not None and left < len(stack):
                del stack[left:]
                torn.sent += left
                torn.torn = True
                if stack:
                    await execute(pipe, raise_on_error)
                raise RedisConnectionError("the worker stopped mid-send")
            torn.sent += len(stack)
            return await execute(pipe, raise_on_error)

        monkeypatch.setattr(Pipeline, "execute", limited)


def every_prefix(run, whole: int, lose_replies: bool = False) -> None:
    """``run(budget)`` for each budget below ``whole`` (the commands of an untorn
    apply; with ``lose_replies`` up to it: the last pipeline lands, its replies lost);
    each must tear exactly there, and any failed check names the budget."""
    for budget in range(whole + 1 if lose_replies else whole):
        try:
            sent, torn = run(budget)
        except AssertionError as wrong:
            raise AssertionError(f"torn after {budget} of {whole} commands: {wrong}") from wrong
        assert torn and sent == budget, budget
