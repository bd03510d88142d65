"""A second worker joins while the first is busy with a replay (its take buffers full):
the group must drain the replay, both workers must go on applying, and the state must
equal the reference.

This used to hang the busy worker for good: its revoke waited in Faust's unbounded
``wait_empty`` for records parked in a delivery to a full agent buffer (three agents read
``ratings``, the slowest one's buffer held the others'). One agent now reads ``ratings``,
and records a stale owner lets go are marked done for that wait (``batching.abandon``)."""

import time
from pathlib import Path

import pytest
import redis

from streams.commands.wait_idle import lag, wait_idle
from streams.datasets import movielens
from tests.conftest import free_port
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference
from tests.scrape import worker_metric

pytestmark = pytest.mark.integration


def batches(port: int) -> float:
    """Batches the worker on ``port`` applied, over every path."""
    return worker_metric(port, "streamrec_batch_apply_seconds_count{")


CHUNK = 5_000  # events produced at a time
BUSY = 10_000  # records kept waiting while the second worker joins


@pytest.mark.timeout(900)
def test_a_worker_joining_during_a_replay_lets_the_group_progress(
    engine_settings, topics, start_worker
):
    """The replay is fed until the joining worker has applied a batch, so the first
    worker is still busy when the group rebalances however fast it drains (a fixed 20,000
    events were once drained before the second worker had partitions, and it then had
    nothing to apply); one more chunk after the join must reach both workers."""
    folder = movielens.ensure_ml100k(Path(engine_settings.cache_dir).expanduser() / "datasets")
    events = movielens.load_ratings(folder)
    chunks = [events[i : i + CHUNK] for i in range(0, len(events), CHUNK)]
    produced: list = []

    def feed() -> None:
        chunk = chunks.pop(0)
        _produce(engine_settings, chunk)
        produced.extend(chunk)

    ports = [free_port(), free_port()]
    first = start_worker(engine_settings, ports[0])
    for _ in range(BUSY // CHUNK * 2):
        feed()
    while batches_or_zero(ports[0]) < 1:  # busy with the backlog
        assert first.poll() is None
        time.sleep(0.5)
    assert lag(engine_settings) > 0
    second = start_worker(engine_settings, ports[1])  # joins mid-replay: a rebalance
    deadline = time.monotonic() + 300
    while batches_or_zero(ports[1]) == 0:  # the rebalance is over: it has partitions
        assert first.poll() is None and second.poll() is None
        assert time.monotonic() < deadline, "the joining worker applied nothing"
        if lag(engine_settings) < BUSY and len(chunks) > 1:
            feed()  # the first worker stays busy until the join is over
        time.sleep(0.5)
    after_join = batches_or_zero(ports[0])
    feed()  # lands on every partition, so on both workers'
    assert wait_idle(engine_settings, timeout=600), "the group did not drain the replay"
    assert first.poll() is None and second.poll() is None
    client = redis.Redis.from_url(engine_settings.redis.url)
    assert_state_equals_reference(engine_settings, produced)
    assert_cooccurrence_equals_reference(client, produced, engine_settings.item_cf)
    log = first.log_path.read_text(errors="replace")
    assert batches_or_zero(ports[0]) > after_join, "the busy worker applied nothing after the join"
    assert "wait_empty: Waiting for tasks" not in log


def batches_or_zero(port: int) -> float:
    try:
        return batches(port)
    except OSError:  # not listening yet
        return 0.0
