"""The refresher and the fuser run in a child process of the worker: its served lists,
refreshed lists and figures (relayed to the worker's ``/metrics``) arrive, a child killed
is started again, and the child ends with the worker, even after ``kill -9``."""

import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from streams.commands.wait_idle import wait_idle
from streams.datasets import movielens
from streams.state import keys
from tests.conftest import free_port
from tests.integration.test_engine_exact import _produce
from tests.scrape import worker_metric

pytestmark = pytest.mark.integration


def list_children(pid: int) -> list[int]:
    """The worker's children running the lists (multiprocessing's spawned interpreter)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


def metrics_page(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def eventually(probe, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.2)
    return probe()


@pytest.mark.timeout(300)
def test_the_lists_child_serves_relays_restarts_and_ends_with_the_worker(
    engine_settings, topics, start_worker
):
    folder = movielens.ensure_ml100k(Path(engine_settings.cache_dir).expanduser() / "datasets")
    events = movielens.load_ratings(folder)[:4_000]
    port = free_port()
    worker = start_worker(engine_settings, port)
    _produce(engine_settings, events[:3_000])
    assert wait_idle(engine_settings, timeout=120)
    client = redis.Redis.from_url(engine_settings.redis.url)
    assert all(client.exists(keys.user_served(e.user_id)) for e in events[:3_000])
    (first,) = eventually(lambda: list_children(worker.pid))
    relayed = eventually(lambda: worker_metric(port, "streamrec_served_fused_total"))
    assert relayed > 0  # the child's figures are on the worker's /metrics
    assert client.zcard(keys.stale_users()) == 0  # wait_idle: the child refreshed them all
    # every user-based list the child's refresher rewrote was fused again after it
    users = sorted({e.user_id for e in events[:3_000]})
    written = [client.hget(keys.user_state(u), "topn_at") for u in users]
    fused = [client.zscore(keys.served_times(), u) for u in users]
    behind = [u for u, w, f in zip(users, written, fused, strict=True) if f < float(w)]
    assert not behind, f"{len(behind)} served lists are older than their user-based list"
    assert eventually(lambda: "streamrec_stale_lists 0.0" in metrics_page(port))  # relayed

    os.kill(first, signal.SIGKILL)
    (second,) = eventually(lambda: [c for c in list_children(worker.pid) if c != first])
    assert eventually(lambda: worker_metric(port, "streamrec_lists_process_restarts_total")) == 1
    late = [e for e in events[3_000:] if not client.exists(keys.user_served(e.user_id))]
    assert late, "the later events bring users without a served list yet"
    _produce(engine_settings, events[3_000:])
    assert wait_idle(engine_settings, timeout=120)
    assert all(client.exists(keys.user_served(e.user_id)) for e in late)  # the new child's
    assert worker_metric(port, "streamrec_served_fused_total") > relayed

    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    assert eventually(lambda: not running(second), timeout=10), "the lists outlived the worker"
