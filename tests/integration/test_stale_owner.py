"""Issue 14, hole 1: a worker paused past its session timeout (SIGSTOP) inside a pairs
batch, whose partitions another worker has claimed and applied past by the time it
resumes (SIGCONT), must not move their progress: its begin and commit are refused by
the partitions' owner epochs (fencing tokens), it says so, and the state is exact."""

from __future__ import annotations

import signal
import time

import pytest
import redis

from streams.commands.wait_idle import lag, wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.state import keys
from streams.topics import end_offsets
from tests.conftest import free_port
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference
from tests.integration.test_quiet_partition import open_intents
from tests.scrape import worker_metric

pytestmark = pytest.mark.integration

# the paused worker leaves the group this long after its last heartbeat; the broker's least
# (group.min.session.timeout.ms)
SESSION_TIMEOUT_S = 6


def _pairs_keys(settings) -> list[str]:
    parts = range(settings.topics.ratings_partitions)
    return [keys.partition_progress(settings.by_item_topic, p) for p in parts]


def _progress(client: redis.Redis, key: str) -> tuple[int, int, int]:
    fence, intent, epoch = client.hmget(key, ["fence", "intent_end", "epoch"])
    return int(fence or -1), int(intent or -1), int(epoch or 0)


def _refusals(metrics_port: int) -> float:
    return worker_metric(metrics_port, 'streamrec_stale_owner_refusals_total{path="pairs"}')


def _pause_inside_a_pairs_batch(worker, client, names, timeout: float = 60) -> dict:
    """SIGSTOP the worker while a pairs batch is begun and not committed (checked again
    once it is stopped: the batch may have been committed in between)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if open_intents(client, names):
            worker.send_signal(signal.SIGSTOP)
            if caught := open_intents(client, names):
                return caught
            worker.send_signal(signal.SIGCONT)
    raise AssertionError("no pairs batch was caught in flight")


def _watch_fences(client, names, metrics_port: int, passed: dict) -> dict[str, int]:
    """The lowest fence of each key seen from now until 3 s after the worker's first
    refusal (20 s at most): a commit that moved one back shows until a later batch."""
    lowest = {key: passed[key] for key in names}
    deadline, refused_at, asked = time.monotonic() + 20, None, 0.0
    while time.monotonic() < deadline:
        for key in names:
            lowest[key] = min(lowest[key], _progress(client, key)[0])
        now = time.monotonic()
        if refused_at is None and now - asked > 0.5:
            asked = now
            refused_at = now if _refusals(metrics_port) > 0 else None
        if refused_at is not None and now - refused_at > 3:
            break
    return lowest


def _until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.mark.timeout(240)
def test_a_worker_resumed_after_its_partitions_moved_is_refused(
    worker_settings, topics, start_worker, monkeypatch
):
    settings = worker_settings  # every path on: the ratings agent's paths are fenced too
    monkeypatch.setenv("STREAMREC_SESSION_TIMEOUT_S", str(SESSION_TIMEOUT_S))
    client = redis.Redis.from_url(settings.redis.url)
    names = _pairs_keys(settings)
    events = list(generate(SyntheticSpec(events=6_000, users=150, items=60, rerate_share=0.1)))
    port_a, port_b = free_port(), free_port()

    stale = start_worker(settings, port_a)  # alone in the group: every partition is its
    _produce(settings, events[:3_000])
    caught = _pause_inside_a_pairs_batch(stale, client, names)
    claimed = {key: _progress(client, key)[2] for key in caught}
    _produce(settings, events[3_000:])  # more for the new owner to apply past the batch

    fresh = start_worker(settings, port_b)

    def moved_past() -> bool:  # claimed anew, the stale batch redone and gone beyond
        now = {key: _progress(client, key) for key in caught}
        return all(
            epoch > claimed[key] and fence > caught[key][1]
            for key, (fence, _intent, epoch) in now.items()
        )

    _until(moved_past, 90, f"the new worker never took over and passed {caught}")
    _until(lambda: lag(settings) == 0, 90, "the new worker never caught up")
    ends = end_offsets(settings.kafka, settings.by_item_topic)
    passed = {key: _progress(client, key)[0] for key in names}
    assert passed == {k: ends[p] - 1 for p, k in enumerate(names)}, (passed, ends)

    stale.send_signal(signal.SIGCONT)
    lowest = _watch_fences(client, list(caught), port_a, passed)
    assert lowest == {key: passed[key] for key in caught}, f"a fence went back: {lowest}"
    assert _refusals(port_a) > 0, "the resumed worker was never refused"
    assert wait_idle(settings, timeout=120)
    assert stale.poll() is None, stale.log_path.read_text()[-3000:]
    assert fresh.poll() is None, fresh.log_path.read_text()[-3000:]
    ends = end_offsets(settings.kafka, settings.by_item_topic)  # with what it re-forwarded
    for p, key in enumerate(names):  # no fence went back; each shows its last record
        fence, intent, _epoch = _progress(client, key)
        assert fence >= passed[key] and intent <= fence, (key, fence, intent, passed[key])
        assert fence == ends[p] - 1, (key, fence, ends[p])
    assert "claimed by another worker" in stale.log_path.read_text()
    assert_state_equals_reference(settings, events)
    assert_cooccurrence_equals_reference(client, events, settings.item_cf)
