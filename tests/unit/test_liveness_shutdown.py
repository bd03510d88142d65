"""The pieces that bound a worker's stop: the drain that replaces Faust's unbounded wait,
the watchdog, a second signal, and their settings."""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import faust
import pytest
from pydantic import ValidationError

from streams.metrics import Heartbeat
from streams.settings import Lifecycle, WorkerSettings
from streams.worker.app import StreamrecApp
from streams.worker.run import (
    EXIT_SHUTDOWN_TIMEOUT,
    StreamrecWorker,
    Watchdog,
)


class Message:
    def __init__(self) -> None:
        self.acked = False


class Consumer:
    """What the drain reads of Faust's consumer: the unacknowledged messages."""

    def __init__(self, n: int) -> None:
        self.messages = [Message() for _ in range(n)]
        self._unacked_messages = set(self.messages)

    def _clean_unacked_messages(self) -> None:
        self._unacked_messages -= {m for m in self._unacked_messages if m.acked}


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def info(self, *args: object) -> None:
        pass

    def warning(self, msg: str, *args: object) -> None:
        self.warnings.append(msg % args)


def _stopping_app(drain_s: float, quiet_s: float) -> StreamrecApp:
    app = StreamrecApp("drain-test")
    app.drain_s, app.drain_quiet_s = drain_s, quiet_s
    app._stopped.set()  # what Service.stop does before on_stop
    return app


def _drain(app: StreamrecApp, consumer: Consumer, acker=None) -> tuple[float, Log]:
    log = Log()

    async def main() -> float:
        if acker is not None:
            asyncio.get_running_loop().create_task(acker())
        started = time.monotonic()
        await app._consumer_wait_empty(consumer, log)
        return time.monotonic() - started

    return asyncio.run(main()), log


def test_the_drain_ends_as_soon_as_everything_in_flight_is_acknowledged():
    consumer = Consumer(3)

    async def ack_all() -> None:
        for message in consumer.messages:
            await asyncio.sleep(0.1)
            message.acked = True

    took, log = _drain(_stopping_app(drain_s=10, quiet_s=2), consumer, ack_all)
    assert took < 2 and not consumer._unacked_messages and not log.warnings


def test_records_that_can_never_be_acknowledged_are_abandoned_once_acks_stop():
    consumer = Consumer(2)  # parked in a suspended delivery: nothing will ever ack them
    took, log = _drain(_stopping_app(drain_s=10, quiet_s=0.3), consumer)
    assert 0.3 <= took < 2
    assert log.warnings and "2 delivered records" in log.warnings[0]


def test_the_drain_is_bounded_even_while_acks_keep_trickling_in():
    consumer = Consumer(1000)

    async def ack_slowly() -> None:
        for message in consumer.messages:
            await asyncio.sleep(0.05)
            message.acked = True

    took, log = _drain(_stopping_app(drain_s=0.5, quiet_s=0.3), consumer, ack_slowly)
    assert 0.5 <= took < 1.5 and log.warnings


def test_a_rebalance_keeps_fausts_own_wait(monkeypatch):
    calls = []

    async def faust_wait(self, consumer, logger) -> None:
        calls.append(consumer)

    monkeypatch.setattr(faust.App, "_consumer_wait_empty", faust_wait)
    app = StreamrecApp("rebalance-test")  # not stopping
    consumer = Consumer(1)
    asyncio.run(app._consumer_wait_empty(consumer, Log()))
    assert calls == [consumer]


def test_the_watchdog_exits_hard_after_its_timeout_and_arms_once():
    exits: list[int] = []
    done = threading.Event()

    def record(code: int) -> None:
        exits.append(code)
        done.set()

    watchdog = Watchdog(0.2, exit_=record)
    watchdog.arm()
    armed_at = watchdog.armed_at
    watchdog.arm()
    assert watchdog.armed_at == armed_at
    assert done.wait(5)
    time.sleep(0.3)  # a second thread would have exited a second time by now
    assert exits == [EXIT_SHUTDOWN_TIMEOUT]


def test_the_first_signal_arms_the_watchdog_and_a_second_exits_at_once():
    exits: list[int] = []
    watchdog = Watchdog(3600, exit_=exits.append)
    loop = asyncio.new_event_loop()
    try:
        app = StreamrecApp("signal-test", loop=loop)
        worker = StreamrecWorker(app, heartbeat=Heartbeat(), watchdog=watchdog, loop=loop)
        watchdog.arm()  # the Python-level handler runs first, even on a wedged loop
        worker._schedule_shutdown(signal.SIGTERM)  # then the loop's: still the first signal
        assert watchdog.armed_at is not None and exits == []
        assert worker._signal_stop_future is not None  # Faust's own stop is under way
        worker._signal_stop_future.cancel()
        worker._schedule_shutdown(signal.SIGTERM)
        assert exits == [EXIT_SHUTDOWN_TIMEOUT]
    finally:
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def test_lifecycle_settings_defaults_fit_kubernetes_default_grace_period(monkeypatch):
    settings = WorkerSettings().lifecycle
    assert settings.shutdown_drain_s < settings.shutdown_timeout_s < 30
    monkeypatch.setenv("STREAMREC_LIFECYCLE__SHUTDOWN_TIMEOUT_S", "12")
    monkeypatch.setenv("STREAMREC_LIFECYCLE__LIVENESS_STALE_S", "9")
    settings = WorkerSettings().lifecycle
    assert settings.shutdown_timeout_s == 12 and settings.liveness_stale_s == 9


def test_a_drain_as_long_as_the_timeout_is_refused():
    with pytest.raises(ValidationError, match="shutdown_drain_s"):
        Lifecycle(shutdown_timeout_s=5, shutdown_drain_s=5)
