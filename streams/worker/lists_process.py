"""The list upkeep in a process of its own, started and watched by the worker: the
refresher (user-based lists other users' events made stale) and the fuser (served lists).

Both read Redis and write Redis, nothing of the worker's own state. On the worker's
event loop they ran between the agents' batches: the fuser about a tenth of the worker's
time on a full ML-100K replay (served lists on 1,448 events/s, off 1,586), the refresher
up to a third of each second at a paced load (``bench.engines --batch 1000``: 93 µs per
event), while the second core had room (the worker at ~95% of one core, Redis and Kafka
at 40–60% of the other). In a child process they run beside the agents instead.

The child's figures (lists fused and their age, the due and stale queues, Redis errors)
are sent to the worker once a second and land in the worker's own metrics, so
dashboards, alerts and benchmarks read one ``/metrics`` as before. The child ends when
asked (SIGTERM), when the worker stops, and when the worker is gone (``kill -9``): it
watches its parent's pid. One that ends on its own is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import multiprocessing
import os
import signal
from collections.abc import Awaitable
from multiprocessing.connection import Connection
from typing import Any

from streams import metrics
from streams.engines.served import Fuser
from streams.engines.usercf import Engine
from streams.logs import logging_config
from streams.settings import WorkerSettings
from streams.state.clients import async_client
from streams.state.served import ServedStore
from streams.state.usercf import Store
from streams.worker.fuser import LocalReport, fuse_forever
from streams.worker.refresher import refresh_forever

log = logging.getLogger(__name__)

SEND_EVERY_S = 1.0  # how often the child's figures reach the worker's metrics
RESTART_AFTER_S = 1.0  # a child that ended on its own is started again after this
STOP_WAIT_S = 2.0  # a child asked to stop is killed if still running after this


class RelayReport:
    """The child's figures since the last ``take``, to be sent to the worker."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.counts: dict[str, int] = {}
        self.ages: list[float] = []
        self.due_users: int | None = None
        self.stale_users: int | None = None
        self.errors: dict[str, int] = {}

    def fused(self, cause: str, users: int, ages: list[float]) -> None:
        self.counts[cause] = self.counts.get(cause, 0) + users
        self.ages.extend(ages)

    def due(self, users: int) -> None:
        self.due_users = users

    def stale(self, users: int) -> None:
        self.stale_users = users

    def redis_error(self, stage: str) -> None:
        self.errors[stage] = self.errors.get(stage, 0) + 1

    def take(self) -> dict[str, Any]:
        sent: dict[str, Any] = {"counts": self.counts, "ages": self.ages}
        sent |= {"errors": self.errors, "due": self.due_users, "stale": self.stale_users}
        self._reset()
        return sent


def replay(sent: dict[str, Any], report: Any) -> None:
    """What ``RelayReport.take`` sent, into ``report`` (the worker's metrics)."""
    for cause, users in sent["counts"].items():
        report.fused(cause, users, sent["ages"] if cause == "source" else [])
    if sent["due"] is not None:
        report.due(sent["due"])
    if sent["stale"] is not None:
        report.stale(sent["stale"])
    for stage, count in sent["errors"].items():
        for _ in range(count):
            report.redis_error(stage)


def child_main(settings: WorkerSettings, conn: Connection, parent: int) -> None:
    """The child's entry point (a spawned interpreter: no state forked from Faust)."""
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
    asyncio.run(_serve(settings, conn, parent))


def refresh_engine(client: Any, settings: WorkerSettings) -> Engine:
    """The user-based engine the child's refresher writes through: a refreshed list makes
    the user's served list due, as in the worker (without it a served list kept the
    neighbours' old picks until the user's next event)."""
    store = Store(client)
    store.mark_served = settings.served.enabled
    return Engine(store, settings.user_cf)


async def until_one_ends(jobs: dict[str, Awaitable[Any]]) -> None:
    """Run the jobs until one ends, then cancel the others. A job's error is logged and
    raised, so the process ends and the worker starts it again: a job that died alone
    (the fuser on an unexpected error) would leave its lists undone and say nothing."""
    tasks = {asyncio.ensure_future(job): name for name, job in jobs.items()}
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.critical(
                "the %s failed; the lists process ends", tasks[task], exc_info=task.exception()
            )
            raise task.exception()  # type: ignore[misc]


async def _serve(settings: WorkerSettings, conn: Connection, parent: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    client = async_client(settings.redis, socket_timeout=30)
    report = RelayReport()

    def stopped() -> bool:
        return stop.is_set() or os.getppid() != parent

    async def send() -> None:
        while not stopped():
            await asyncio.sleep(SEND_EVERY_S)
            with contextlib.suppress(OSError):  # the worker is gone: stopped() says so next
                conn.send(report.take())

    engine = refresh_engine(client, settings)
    sender = asyncio.ensure_future(send())
    jobs: dict[str, Awaitable[Any]] = {
        "refresher": refresh_forever(settings.refresh, engine, report, stopped, asyncio.sleep)
    }
    if settings.served.enabled:
        weights, cold = settings.blend.weights(), settings.blend.cold_start_ratings
        served = ServedStore(client)
        fusing = Fuser(
            served, weights, settings.served.size, cold, per_reason=settings.blend.per_reason
        )
        jobs["fuser"] = fuse_forever(
            settings.served, served, fusing, report, stopped, asyncio.sleep
        )
    try:
        await until_one_ends(jobs)  # the sender runs until then
    finally:
        sender.cancel()
        if os.getppid() == parent:
            with contextlib.suppress(OSError):  # the worker may have closed its end
                conn.send(report.take())  # the last figures
        await client.aclose()


class WorkerReport(LocalReport):
    """The relayed figures into the worker's metrics."""

    def stale(self, users: int) -> None:
        metrics.STALE_LISTS.set(users)


class ListsProcess:
    """Starts the child, relays its figures, starts it again if it ends on its own, and
    stops it with the worker."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.context = multiprocessing.get_context("spawn")
        self.process: Any = None
        self.conn: Connection | None = None
        self.report = WorkerReport()

    def start(self) -> None:
        ours, theirs = self.context.Pipe(duplex=False)
        self.process = self.context.Process(
            target=child_main,
            args=(self.settings, theirs, os.getpid()),
            name="streamrec-lists",
            daemon=True,
        )
        self.process.start()
        theirs.close()
        self.conn = ours

    def pump(self) -> bool:
        """Relay what the child sent; False once the child has ended."""
        assert self.conn is not None
        try:
            while self.conn.poll():
                replay(self.conn.recv(), self.report)
        except (EOFError, OSError):
            pass
        return bool(self.process.is_alive())

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(STOP_WAIT_S)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        if self.conn is not None:
            self.pump()
            self.conn.close()
        self.process = self.conn = None

    async def run(self, poll_s: float = 0.2) -> None:
        """Keep the child running until cancelled (the worker stopping)."""
        try:
            self.start()
            while True:
                await asyncio.sleep(poll_s)
                if self.pump():
                    continue
                log.error(
                    "the lists process ended (exit code %s); starting it again",
                    self.process.exitcode,
                )
                metrics.LISTS_PROCESS_RESTARTS.inc()
                self.stop()
                await asyncio.sleep(RESTART_AFTER_S)
                self.start()
        finally:
            self.stop()


def register(app: Any, settings: WorkerSettings) -> ListsProcess:
    """The worker's task that keeps the child running."""
    process = ListsProcess(settings)

    @app.task
    async def lists_process() -> None:
        await process.run()

    return process
