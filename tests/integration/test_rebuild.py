import subprocess
import sys

import pytest
import redis

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.state import keys
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
