"""The refresher: recomputes lists that other users' events made stale, oldest first,
within a bounded budget per tick so that it never starves the event path.

Ticks come at a fixed rate (``every``: one per interval, whatever a tick took) and each is
bounded by time: ``busy_share`` of the interval while records come in, ``IDLE_TIME_SHARE``
when none did, so a tick never overruns the next. Within it the refresher works in rounds
of at most ``refresh_budget`` users, each as large as the time left allows at the cost per
user measured so far, so a quiet worker drains a backlog of a thousand users within a few
ticks, and a busy one (whose rounds take longer, sharing the event loop with the agents)
does less per tick.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from redis.exceptions import RedisError

from streams import metrics
from streams.engines.usercf import Engine
from streams.settings import RefreshSettings, WorkerSettings
from streams.state import keys
from streams.state.toolkit import Busy
from streams.worker.inflight import QuietSince
from streams.worker.sweep import Sweep

# of the interval, while no record came in since the last tick (``busy_share`` while
# records come in, RefreshSettings): the stale backlog a stream leaves when
# it stops (about every user after a replay) is all there is to do, so it gets the time
IDLE_TIME_SHARE = 0.9
FIRST_GUESS_S = 0.05  # seconds per user until measured: the first round is a small probe


class StaleQueue(Protocol):
    def busy(self) -> AbstractAsyncContextManager[Any]: ...

    async def pop_stale(self, budget: int) -> list[str]: ...

    async def give_back(self, users: list[str]) -> None: ...


@dataclass
class TickBudget:
    """How many users the next round may take: what fits in half the time left at the
    cost per user measured so far, never more than ``round_max``. The estimate rises at
    once and falls slowly, and the half leaves room for a round that runs slower than
    estimated (up to 4x on the first round of a tick, more on later ones) without the
    tick overrunning its timer."""

    seconds: float
    round_max: int
    clock: Callable[[], float] = time.monotonic
    per_user_s: float = FIRST_GUESS_S

    def next_round(self, started: float) -> int:
        left_s = self.seconds - (self.clock() - started)
        fits = int(0.5 * left_s / max(self.per_user_s, 1e-9))
        return max(0, min(self.round_max, fits))

    def measured(self, users: int, seconds: float) -> None:
        if users:
            latest = seconds / users
            self.per_user_s = max(latest, 0.5 * (self.per_user_s + latest))


def _count_error() -> None:
    metrics.REDIS_ERRORS.labels("refresher").inc()


async def refresh_tick(
    queue: StaleQueue,
    refresh: Callable[[list[str]], Awaitable[Any]],
    budget: TickBudget,
    failed: Callable[[], None] = _count_error,
) -> int:
    """Pop and refresh stale users in rounds until the tick's time is spent or the queue
    is empty; returns how many were refreshed. A failed round gives its users back."""
    started = budget.clock()
    done = 0
    # one user at least per tick: a round measured slow under load must not price the
    # refresher out for good (only a round that runs can lower the estimate again)
    while (size := budget.next_round(started) or (0 if done or not budget.round_max else 1)) > 0:
        async with queue.busy():
            users = await queue.pop_stale(size)
            if not users:
                break
            round_started = budget.clock()
            try:
                await refresh(users)
            except RedisError:
                failed()
                with contextlib.suppress(RedisError):  # for the next tick
                    await queue.give_back(users)
                break
        budget.measured(len(users), budget.clock() - round_started)
        done += len(users)
        if len(users) < size:
            break  # the queue is empty
    return done


async def every(
    interval: float,
    tick: Callable[[], Awaitable[Any]],
    sleep: Callable[[float], Awaitable[Any]],
    stopped: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``tick`` once per ``interval``, the time it took counted in: Faust's timers
    sleep the whole interval after each run, so a tick of 0.9 s came every 1.9 s and a
    quiet worker refreshed less than half of the time it was meant to."""
    await sleep(interval)
    while not stopped():
        started = clock()
        await tick()
        await sleep(max(0.0, interval - (clock() - started)))


class Pace:
    """Which budget the next tick gets in the list process, which sees no records: busy
    while users were marked stale since the last tick. The queue's size alone cannot
    tell: once every user is queued (a replay of ML-100K's 943 users reaches that within
    seconds) re-marks leave it as it is, and a tick that read that as quiet took 0.9 of
    each second from the event path for lists the next batch made stale again."""

    def __init__(self, busy: TickBudget, quiet: TickBudget) -> None:
        self.busy, self.quiet = busy, quiet
        self.marks: int | None = None

    def next(self, marks: int) -> TickBudget:
        running = self.marks is not None and marks != self.marks
        self.marks = marks
        return self.busy if running else self.quiet


class _Queue:
    def __init__(self, engine: Engine) -> None:
        self.store = engine.store

    def busy(self) -> Busy:
        return Busy(self.store.redis, keys.REFRESH_ROUND)

    async def pop_stale(self, budget: int) -> list[str]:
        return await self.store.pop_stale(budget)

    async def give_back(self, users: list[str]) -> None:
        await self.store.publish_derived({}, {}, set(users))


class StaleReport(Protocol):
    def stale(self, users: int) -> None: ...

    def redis_error(self, stage: str) -> None: ...


async def refresh_forever(
    settings: RefreshSettings,
    engine: Engine,
    report: StaleReport,
    stopped: Callable[[], bool],
    sleep: Callable[[float], Awaitable[Any]],
) -> None:
    """The refresher in a process of its own (``streams.worker.lists_process``): no
    agents to leave time to, so a tick takes the quiet share of the interval, and
    ``busy_share`` of it while the stream runs (``Pace``: the worker and Redis need the
    cores then)."""
    interval, round_max = settings.interval_s, settings.budget
    pace = Pace(
        TickBudget(settings.busy_share * interval, round_max),
        TickBudget(IDLE_TIME_SHARE * interval, round_max),
    )

    sweep = Sweep()

    async def tick() -> None:
        try:
            budget = pace.next(await engine.store.stale_marks())
            await refresh_tick(
                _Queue(engine), engine.refresh, budget, lambda: report.redis_error("refresher")
            )
            if settings.sweep:
                await sweep.step(engine.store)  # once quiet: every list converges
            report.stale(await engine.store.stale_count())
        except RedisError:
            report.redis_error("refresher")

    await every(interval, tick, sleep, stopped)


def register(app: faust.App, settings: WorkerSettings, engine: Engine) -> Any:
    """The worker's per-second task: its consumer lag figures, and the refresher itself
    when it runs on the worker's event loop (``STREAMREC_LISTS_PROCESS=false``)."""
    # one estimate per mode: a busy round's time includes the agents' work between its
    # awaits, so the cost per user measured while busy (several times the idle one) would
    # shrink the rounds of the drain that follows the stream's end for several ticks
    interval, round_max = settings.refresh.interval_s, settings.refresh.budget
    busy = TickBudget(settings.refresh.busy_share * interval, round_max)
    quiet = TickBudget(IDLE_TIME_SHARE * interval, round_max)
    since_last_tick = QuietSince()  # a busy tick's share: a quiet one's would starve a batch
    sweep = Sweep()

    async def refresh_stale() -> None:
        idle = since_last_tick.look()
        try:
            if not settings.lists_process:
                await refresh_tick(_Queue(engine), engine.refresh, quiet if idle else busy)
                if settings.refresh.sweep:
                    await sweep.step(engine.store)
                metrics.STALE_LISTS.set(await engine.store.stale_count())
        except RedisError:
            metrics.REDIS_ERRORS.labels("refresher").inc()
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

    @app.task
    async def refresher() -> None:
        await every(interval, refresh_stale, app.sleep, lambda: app.should_stop)

    return refresh_stale
