"""Liveness sees the event loop: the heartbeat's staleness with an injected clock, and
/livez on the real metrics server, fed by a real loop that is then blocked."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request

import pytest

from streams.metrics import Heartbeat, MetricsServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_fresh_heartbeat_is_alive_and_goes_stale_past_the_threshold():
    clock = Clock()
    heartbeat = Heartbeat(clock)
    assert heartbeat.age() == 0 and heartbeat.alive(10)
    clock.now += 10
    assert heartbeat.alive(10)  # exactly at the threshold: still alive
    clock.now += 0.001
    assert not heartbeat.alive(10)
    heartbeat.beat()
    assert heartbeat.age() == 0 and heartbeat.alive(10)


def test_a_loop_that_never_beats_goes_stale_from_its_creation():
    clock = Clock()
    heartbeat = Heartbeat(clock)  # the process started; the loop never ran a beat
    clock.now += 31
    assert not heartbeat.alive(30)


def test_a_clock_going_backwards_does_not_make_a_negative_age():
    clock = Clock()
    heartbeat = Heartbeat(clock)
    clock.now -= 5
    assert heartbeat.age() == 0


def test_run_stamps_the_heartbeat_on_the_loop():
    clock = Clock()
    heartbeat = Heartbeat(clock)

    async def main() -> None:
        task = asyncio.create_task(heartbeat.run(interval_s=0.01))
        clock.now += 100
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(main())
    assert heartbeat.age() == 0


def _status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_livez_follows_the_injected_clock_and_metrics_does_not():
    clock = Clock()
    heartbeat = Heartbeat(clock)
    server = MetricsServer(0, heartbeat, stale_s=30, host="127.0.0.1")
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert _status(base + "/livez")[0] == 200
        assert _status(base + "/healthz")[0] == 200
        clock.now += 31
        status, body = _status(base + "/livez")
        assert status == 503 and "stale" in body and "31.0s" in body
        status, body = _status(base + "/metrics")
        assert status == 200 and "streamrec_loop_heartbeat_age_seconds 31.0" in body
        heartbeat.beat()
        assert _status(base + "/livez?verbose=1")[0] == 200
    finally:
        server.close()


def test_livez_answers_503_while_a_real_loop_is_blocked_then_200_again():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    heartbeat = Heartbeat()
    beating = asyncio.run_coroutine_threadsafe(heartbeat.run(interval_s=0.05), loop)
    server = MetricsServer(0, heartbeat, stale_s=0.5, host="127.0.0.1")
    livez = f"http://127.0.0.1:{server.port}/livez"

    async def wedge() -> None:
        time.sleep(2.0)  # a blocking call on the loop: no beat can run

    def wait_for(status: int, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if _status(livez)[0] == status:
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"/livez never answered {status}")

    try:
        wait_for(200, 2)
        asyncio.run_coroutine_threadsafe(wedge(), loop)
        wait_for(503, 2)  # seen while the loop is still blocked (2 s > 0.5 s threshold)
        wait_for(200, 5)  # the loop runs again, so does the heartbeat
    finally:
        server.close()
        beating.cancel()
        time.sleep(0.2)  # the loop delivers the cancel before it stops
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_closing_the_server_frees_the_port_at_once():
    server = MetricsServer(0, Heartbeat(), stale_s=30, host="127.0.0.1")
    port = server.port
    server.close()
    again = MetricsServer(port, Heartbeat(), stale_s=30, host="127.0.0.1")
    again.close()


def test_a_port_in_use_is_refused():
    server = MetricsServer(0, Heartbeat(), stale_s=30, host="127.0.0.1")
    try:
        with pytest.raises(OSError):
            MetricsServer(server.port, Heartbeat(), stale_s=30, host="127.0.0.1")
    finally:
        server.close()
