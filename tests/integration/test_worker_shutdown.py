"""SIGTERM (what Kubernetes sends) stops the worker within its grace period, frees the
metrics port, and leaves state that a restart completes exactly; /livez sees a wedged loop.

Before the fix a busy worker hung in Faust's stop for good (waiting for acks of records
parked in a suspended delivery), holding its metrics port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import redis

from streams.commands.wait_idle import lag, wait_idle
from streams.datasets import movielens
from streams.producer import EventProducer
from streams.state import keys
from streams.state.codecs import decode_pairs
from streams.worker.run import EXIT_SHUTDOWN_TIMEOUT
from tests.conftest import free_port, worker_env
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.reference import Reference, final_ratings

pytestmark = pytest.mark.integration

GRACE_S = 30.0  # Kubernetes' default terminationGracePeriodSeconds


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return -1


def _wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the worker binds
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _terminate(worker: subprocess.Popen) -> tuple[int, float]:
    """SIGTERM; the exit code and the seconds it took (the wait itself is the bound)."""
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=GRACE_S)  # raises if the worker outlives the grace period
    return code, time.monotonic() - started


def _produce(settings, events) -> None:
    with EventProducer(settings.kafka) as producer:
        for event in events:
            producer.send_rating(settings.topics.ratings, event)


def _assert_state_equals_reference(settings, events) -> None:
    """Every user's moments and embedding ratings, every co-occurrence, μ, and 500 pairs."""
    client = redis.Redis.from_url(settings.redis.url)
    final = final_ratings(events)
    ref = Reference(final)
    assert_cooccurrence_equals_reference(client, events, settings.item_cf)
    mean = np.frombuffer(client.hget(keys.embedding_model(), "mean"), dtype="<f8")
    assert mean[0] == len(final) and abs(mean[1] - sum(final.values())) < 1e-6
    for user in ref.users:
        state = client.hgetall(keys.user_state(user))
        got = [float(state[f]) for f in (b"count", b"sum", b"sumsq")]
        assert np.allclose(got, ref.stats(user), atol=1e-9), user
        rated = client.hgetall(keys.user_embedding_ratings(user))
        want = {i: r for (u, i), r in final.items() if u == user}
        assert {i.decode(): float(r) for i, r in rated.items()} == want, user
    checked = 0
    for u in ref.users:
        for v in ref.co_raters(u)[:5]:
            stored = client.hget(keys.user_pairs(u), v)
            assert stored is not None, f"pair {u}-{v} lost"
            _partner, sums = decode_pairs({v.encode(): stored})
            assert np.allclose(sums[0], ref.pair_sums(u, v), atol=1e-9), (u, v)
            checked += 1
    assert checked > 500


@pytest.mark.timeout(900)
def test_sigterm_during_a_replay_exits_in_grace_frees_the_port_and_a_restart_is_exact(
    engine_settings, topics, start_worker
):
    folder = movielens.ensure_ml100k(Path(engine_settings.cache_dir).expanduser() / "datasets")
    events = movielens.load_ratings(folder)[:30_000]
    _produce(engine_settings, events)
    port = free_port()
    worker = start_worker(engine_settings, port)
    # busy: some progress committed, much left; the old probe target and /livez both answer
    _wait_for(lambda: lag(engine_settings) < len(events) - 2_000, 300, "the replay to start")
    assert _get(f"http://127.0.0.1:{port}/livez") == 200
    assert _get(f"http://127.0.0.1:{port}/metrics") == 200
    assert lag(engine_settings) > 0
    code, took = _terminate(worker)
    pending = lag(engine_settings)  # lag only falls: this much was pending at the signal
    print(f"SIGTERM mid-replay: exit {code} after {took:.2f}s with {pending} records pending")
    assert code == 0
    assert pending > 0, "the replay ended before the signal: nothing was interrupted"
    assert _port_is_free(port), "the stopped worker still holds its metrics port"

    restarted = start_worker(engine_settings, port)  # same port: it must bind
    _wait_for(lambda: _get(f"http://127.0.0.1:{port}/livez") == 200, 120, "the new worker")
    assert restarted.poll() is None
    assert wait_idle(engine_settings, timeout=600)
    _assert_state_equals_reference(engine_settings, events)
    code, took = _terminate(restarted)  # idle now: the same bound
    print(f"SIGTERM after the replay (idle): exit {code} after {took:.2f}s")
    assert code == 0 and _port_is_free(port)


def test_sigterm_on_an_idle_worker_exits_in_grace_and_frees_the_port(
    engine_settings, topics, start_worker
):
    folder = movielens.ensure_ml100k(Path(engine_settings.cache_dir).expanduser() / "datasets")
    _produce(engine_settings, movielens.load_ratings(folder)[:500])
    port = free_port()
    worker = start_worker(engine_settings, port)
    assert wait_idle(engine_settings, timeout=300)  # it worked, and now has nothing to do
    assert _get(f"http://127.0.0.1:{port}/livez") == 200
    code, took = _terminate(worker)
    print(f"SIGTERM on an idle worker: exit {code} after {took:.2f}s")
    assert code == 0
    assert _port_is_free(port)


# A worker whose event loop is wedged once, for ``seconds``, by a blocking call in a timer
# (what a CPU-bound or synchronous call in an agent would do), added from outside.
WEDGED_WORKER = """
import sys, time
import streams.worker.app as faust_app

seconds, original = float(sys.argv[1]), faust_app.create_faust_app

def create(settings, **kwargs):
    app = original(settings, **kwargs)
    ticks = []

    @app.timer(interval=1.0)
    async def wedge():
        ticks.append(1)
        if len(ticks) == 5:
            time.sleep(seconds)  # blocks the event loop, not the metrics thread

    return app

faust_app.create_faust_app = create
from streams.cli import main
sys.exit(main(["worker"]))
"""


@pytest.mark.timeout(300)
def test_livez_answers_503_while_the_event_loop_is_wedged_and_metrics_still_answers(
    worker_settings, topics
):
    port = free_port()
    env = worker_env(worker_settings, port) | {"STREAMREC_LIFECYCLE__LIVENESS_STALE_S": "3"}
    worker = subprocess.Popen(
        [sys.executable, "-c", WEDGED_WORKER, "20"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        livez, metrics = f"http://127.0.0.1:{port}/livez", f"http://127.0.0.1:{port}/metrics"
        _wait_for(lambda: _get(livez) == 200, 120, "/livez to answer 200")
        _wait_for(lambda: _get(livez) == 503, 60, "/livez to see the wedged loop")
        assert _get(metrics) == 200  # what the old probe asked: fooled
        body = urllib.request.urlopen(metrics, timeout=5).read().decode()
        age = [ln for ln in body.splitlines() if ln.startswith("streamrec_loop_heartbeat_age")]
        assert age and float(age[0].split()[-1]) > 3
        _wait_for(lambda: _get(livez) == 200, 60, "/livez to recover with the loop")
        assert _terminate(worker)[0] == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@pytest.mark.timeout(300)
def test_sigterm_on_a_wedged_loop_is_cut_short_by_the_watchdog(worker_settings, topics):
    """The loop cannot run Faust's stop; the watchdog, armed from the signal handler that
    runs between the wedged code's bytecodes, exits after the lifecycle's shutdown timeout."""
    port = free_port()
    env = worker_env(worker_settings, port) | {
        "STREAMREC_LIFECYCLE__LIVENESS_STALE_S": "3",
        "STREAMREC_LIFECYCLE__SHUTDOWN_TIMEOUT_S": "5",
        "STREAMREC_LIFECYCLE__SHUTDOWN_DRAIN_S": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", WEDGED_WORKER, "600"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        livez = f"http://127.0.0.1:{port}/livez"
        _wait_for(lambda: _get(livez) == 200, 120, "/livez to answer 200")
        _wait_for(lambda: _get(livez) == 503, 60, "the loop to be wedged")
        code, took = _terminate(worker)
        print(f"SIGTERM on a wedged loop: exit {code} after {took:.2f}s")
        assert code == EXIT_SHUTDOWN_TIMEOUT
        assert _port_is_free(port)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
