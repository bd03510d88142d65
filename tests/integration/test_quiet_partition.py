"""Hole 2 on the real stack: a worker killed inside a batch, restarted, and no record
produced after the restart. The records past the crashed batch's end come in the same
takes as its redo; nothing later would carry them, yet the state must reach the
reference and the group's lag reach zero."""

import signal
import time

import pytest
import redis

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.state import keys
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference

pytestmark = pytest.mark.integration


def progress_keys(settings) -> list[str]:
    """Every path's per-partition progress hash (pairs, item-to-item, hybrid)."""
    names = [
        settings.by_item_topic,
        f"{settings.topics.ratings}#item-cf",
        f"{settings.topics.ratings}#hybrid",
    ]
    parts = range(settings.topics.ratings_partitions)
    return [keys.partition_progress(n, p) for n in names for p in parts]


def open_intents(client: redis.Redis, names: list[str]) -> dict[str, tuple[int, int]]:
    """Progress hashes with a batch begun and not committed: {key: (fence, intent_end)}."""
    pipe = client.pipeline(transaction=False)
    for key in names:
        pipe.hmget(key, ["fence", "intent_end"])
    found = {}
    for key, (fence, intent) in zip(names, pipe.execute(), strict=True):
        if intent is not None and int(intent) > int(fence or -1):
            found[key] = (int(fence or -1), int(intent))
    return found


def kill_inside_a_batch(worker, client: redis.Redis, names: list[str], timeout: float) -> dict:
    """kill -9 the moment some path has a batch begun and not committed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if open_intents(client, names):
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            return open_intents(client, names)  # the process is gone: Redis as at the kill
        time.sleep(0.001)
    raise AssertionError("no batch was caught in flight")


@pytest.mark.timeout(600)
def test_records_past_a_crashed_batch_are_applied_with_no_new_input(
    engine_settings, topics, start_worker
):
    spec = SyntheticSpec(events=1_000, users=80, items=50, rerate_share=0.1, delete_share=0.05)
    events = list(generate(spec))
    # history, then a burst the worker is killed in, then records produced while it is
    # down: few enough per partition to come in the same take as the burst's redo
    history, burst, after = events[:900], events[900:950], events[950:]
    client = redis.Redis.from_url(engine_settings.redis.url)
    names = progress_keys(engine_settings)

    worker = start_worker(engine_settings)
    _produce(engine_settings, history)
    assert wait_idle(engine_settings, timeout=180)
    _produce(engine_settings, burst)
    crashed = kill_inside_a_batch(worker, client, names, timeout=60)
    assert crashed, "the kill did not land inside a batch"
    print("killed inside batches (key: fence, intent_end):", crashed)
    _produce(engine_settings, after)  # past every crashed batch's end, before the restart

    worker = start_worker(engine_settings)  # from here on, no record is produced
    assert wait_idle(engine_settings, timeout=120), (
        "records left unapplied on a quiet partition: "
        + worker.log_path.read_text(errors="replace")[-3000:]
    )
    assert worker.poll() is None
    assert not open_intents(client, names)
    assert_state_equals_reference(engine_settings, events)
    assert_cooccurrence_equals_reference(client, events, engine_settings.item_cf)
