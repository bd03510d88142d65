import subprocess
import sys

import pytest
import redis

from streams.commands.rebuild import copy_log, copy_marker
from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.state import keys
from streams.topics import (
    RETAIN_FOREVER,
    TopicSpec,
    count_records,
    create_topics,
    delete_topics,
    rebuild_copy_topic,
)
from tests.conftest import worker_env
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference

pytestmark = pytest.mark.integration


def test_rebuild_drops_the_state_and_replays_it_identically(engine_settings, topics, start_worker):
    events = list(generate(SyntheticSpec(events=1_500, users=80, items=40, rerate_share=0.1)))
    worker = start_worker(engine_settings)
    _produce(engine_settings, events)
    assert wait_idle(engine_settings, timeout=240)
    worker.terminate()
    worker.wait(timeout=60)

    client = redis.Redis.from_url(engine_settings.redis.url)
    client.hset(keys.user_state("u1"), "sum", "12345")  # corrupt something: rebuild must fix it
    refused = subprocess.run(
        [sys.executable, "-m", "streams.cli", "rebuild"],
        env=worker_env(engine_settings), capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2 and client.exists(keys.user_state("u1"))
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "rebuild", "--yes"],
        env=worker_env(engine_settings), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not client.keys(keys.all_keys_pattern())

    start_worker(engine_settings)
    assert wait_idle(engine_settings, timeout=240)
    assert_state_equals_reference(engine_settings, events)


def test_a_rebuild_cut_short_after_deleting_ratings_resumes_from_the_copy(
    engine_settings, topics, start_worker
):
    events = list(generate(SyntheticSpec(events=800, users=40, items=30, rerate_share=0.1)))
    _produce(engine_settings, events)
    wider = engine_settings.model_copy(
        update={"topics": engine_settings.topics.model_copy(update={"ratings_partitions": 6})}
    )
    copy, t = rebuild_copy_topic(wider), wider.topics
    try:  # what a rebuild leaves when it dies right after deleting `ratings`
        create_topics(wider.kafka, [TopicSpec(copy, 4, 1, dict(RETAIN_FOREVER))])
        assert copy_log(wider, t.ratings, copy, keep_partition=True) == len(events)
        redis.Redis.from_url(wider.redis.url).hset(copy_marker(), "records", len(events))
        delete_topics(wider.kafka, [t.ratings])
        worker = start_worker(wider)
        assert worker.wait(timeout=120) == 2  # the copy exists: refused

        done = subprocess.run(
            [sys.executable, "-m", "streams.cli", "rebuild", "--yes"],
            env=worker_env(wider), capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert count_records(wider.kafka, t.ratings) == len(events)
        start_worker(wider)
        assert wait_idle(wider, timeout=240)
        assert_state_equals_reference(wider, events)
    finally:
        delete_topics(wider.kafka, [copy])
