"""``streamrec worker``: check the topics, serve /metrics and /livez, run the Faust worker,
and stop within a bound on SIGTERM (what Kubernetes and Docker send)."""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from faust import Worker

from streams.logs import logging_config
from streams.metrics import Heartbeat, MetricsServer
from streams.settings import WorkerSettings
from streams.state.redis_checks import refuse_evicting_redis
from streams.topics import TopicMismatch, check_partition_layout, check_topics, topic_specs

log = logging.getLogger(__name__)

# the stop took longer than STREAMREC_LIFECYCLE__SHUTDOWN_TIMEOUT_S and was cut short (EX_TEMPFAIL):
# harmless, the fences redo the abandoned batch exactly once after a restart
EXIT_SHUTDOWN_TIMEOUT = 75


class Watchdog:
    """Armed by the first stop signal: if the process still runs ``timeout_s`` later, it
    exits hard. A thread of its own, so a wedged loop or a stuck thread cannot hold it."""

    def __init__(self, timeout_s: float, exit_: Any = os._exit) -> None:
        self.timeout_s = timeout_s
        self.exit = exit_
        self.armed_at: float | None = None

    def arm(self) -> None:
        if self.armed_at is None:
            self.armed_at = time.monotonic()
            threading.Thread(target=self._expire, name="shutdown-watchdog", daemon=True).start()

    def _expire(self) -> None:
        time.sleep(self.timeout_s)
        log.critical(
            "stop did not finish within %.1fs; exiting with %d (the fences redo the "
            "abandoned batch after a restart)",
            self.timeout_s,
            EXIT_SHUTDOWN_TIMEOUT,
        )
        _flush_logs()
        self.exit(EXIT_SHUTDOWN_TIMEOUT)


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()


class StreamrecWorker(Worker):
    """Faust's worker plus the loop heartbeat and the shutdown watchdog."""

    def __init__(self, app: Any, *, heartbeat: Heartbeat, watchdog: Watchdog, **kw: Any) -> None:
        super().__init__(app, **kw)
        self.heartbeat = heartbeat
        self.watchdog = watchdog
        self.stop_signalled = False

    async def on_start(self) -> None:
        await super().on_start()
        self.add_future(self.heartbeat.run())

    def install_signal_handlers(self) -> None:
        """Faust's handlers run on the loop; a Python-level handler arms the watchdog even
        while the loop is wedged (asyncio's wakeup fd still hands the signal to the loop)."""
        super().install_signal_handlers()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.watchdog.arm())

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        if self.stop_signalled:  # a second signal: the operator insists
            log.warning("second %s during the stop: exiting now", signal.name)
            _flush_logs()
            self.watchdog.exit(EXIT_SHUTDOWN_TIMEOUT)
            return
        self.stop_signalled = True
        self.watchdog.arm()
        super()._schedule_shutdown(signal)


def run_worker(settings: WorkerSettings) -> int:
    lifecycle = settings.lifecycle
    refuse_evicting_redis(settings.redis)  # an evicting Redis could drop fences
    try:
        check_topics(settings.kafka, topic_specs(settings.topics))
        check_partition_layout(settings)  # state built with other partition counts: refuse
    except TopicMismatch as exc:
        print(f"worker: refusing to start: {exc}", file=sys.stderr)
        return 2
    heartbeat = Heartbeat()
    server = None
    if settings.metrics_port:
        try:
            server = MetricsServer(settings.metrics_port, heartbeat, lifecycle.liveness_stale_s)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            print(
                f"worker: metrics port {settings.metrics_port} is in use "
                "(is another worker still running on this host?)",
                file=sys.stderr,
            )
            return 1
    from streams.worker.app import create_faust_app

    app = create_faust_app(settings, drain_s=lifecycle.shutdown_drain_s)
    config = logging_config(settings.log_level, settings.log_format)
    worker = StreamrecWorker(
        app,
        heartbeat=heartbeat,
        watchdog=Watchdog(lifecycle.shutdown_timeout_s),
        loglevel=settings.log_level,
        quiet=True,
        logging_config=config,
    )
    try:
        worker.execute_from_commandline()  # returns only via SystemExit (0 after a stop)
    finally:
        if server is not None:
            server.close()  # the port is free before the process is gone
    return 0
