"""Changing the partition count of ``ratings`` (exactly-once hole 4).

Offsets are compared as one sequence per (user, item): a user whose key moves to another
partition has later events with lower offsets, dropped as duplicates. Two ways to change
the count: in place (``kafka-topics --alter``), which the worker must refuse, and the
documented procedure, ``streamrec rebuild --yes`` with the new count configured."""

import random
import subprocess
import sys

import pytest
import redis
from confluent_kafka.admin import AdminClient, NewPartitions

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.schemas.ratings import RatingEvent
from streams.settings import TopicSettings
from streams.state import keys
from streams.topics import STATE_REVISION, delete_topics, topic_specs
from tests.conftest import worker_env
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.integration.test_engine_exact import _produce, assert_state_equals_reference
from tests.reference import final_ratings

pytestmark = pytest.mark.integration


@pytest.fixture
def two_partitions(engine_settings):
    """Engine settings whose ratings topic starts with 2 partitions; every topic removed after."""
    from streams.topics import create_topics

    settings = engine_settings.model_copy(
        update={"topics": engine_settings.topics.model_copy(update={"ratings_partitions": 2})}
    )
    create_topics(settings.kafka, topic_specs(settings.topics))
    yield settings
    internal = [settings.by_item_topic, f"{settings.app_id}-__assignor-__leader"]
    names = [s.name for s in topic_specs(settings.topics)] + internal
    delete_topics(settings.kafka, [*names, f"{settings.topics.ratings}.rebuild-copy"])


def _with_partitions(settings, n: int):
    topics: TopicSettings = settings.topics.model_copy(update={"ratings_partitions": n})
    return settings.model_copy(update={"topics": topics})


def _later_changes(events, seed: int = 7) -> list[RatingEvent]:
    """Re-ratings and deletes of standing (user, item) pairs, and a few new ratings, all
    after ``events``: what a partition move must not drop."""
    rng = random.Random(seed)
    standing = sorted(final_ratings(events))
    ts = max(e.ts for e in events)
    out = []
    for user, item in rng.sample(standing, 150):
        ts += 1.0
        if rng.random() < 0.25:
            out.append(RatingEvent(user, item, None, ts, "delete"))
        else:
            out.append(RatingEvent(user, item, float(rng.randint(1, 5)), ts))
    users = sorted({e.user_id for e in events})
    for k in range(60):
        ts += 1.0
        out.append(RatingEvent(rng.choice(users), f"new{k % 15}", float(rng.randint(1, 5)), ts))
    return out


def _cli(settings, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=worker_env(settings), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _partitions(settings, topic: str) -> int:
    admin = AdminClient(dict(settings.kafka.confluent_config()))
    return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


def _assert_exact(settings, events) -> None:
    assert_state_equals_reference(settings, events)
    client = redis.Redis.from_url(settings.redis.url)
    assert_cooccurrence_equals_reference(client, events, settings.item_cf)


def _refused_then_rebuilt(settings, start_worker, why: str) -> None:
    """A worker started on this state stops with a message that says ``why`` and names
    the rebuild; the rebuild then runs to its end."""
    refused = start_worker(settings)
    assert refused.wait(timeout=120) == 2
    message = refused.log_path.read_text()
    assert why in message and "streamrec rebuild --yes" in message, message
    done = _cli(settings, "rebuild", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr


def _first_run(settings, start_worker):
    events = list(generate(SyntheticSpec(events=1_200, users=50, items=40, rerate_share=0.1)))
    worker = start_worker(settings)
    _produce(settings, events)
    assert wait_idle(settings, timeout=240)
    worker.terminate()
    worker.wait(timeout=60)
    return events


def test_partitions_added_in_place_are_refused_and_rebuild_restores_the_reference(
    two_partitions, start_worker
):
    settings = two_partitions
    events = _first_run(settings, start_worker)

    # the operator adds partitions in place and configures the new count
    admin = AdminClient(dict(settings.kafka.confluent_config()))
    for future in admin.create_partitions([NewPartitions(settings.topics.ratings, 4)]).values():
        future.result()
    wider = _with_partitions(settings, 4)
    later = _later_changes(events)
    _produce(wider, later)

    _refused_then_rebuilt(wider, start_worker, "partition")
    assert _partitions(wider, wider.topics.ratings) == 4
    assert _partitions(wider, wider.by_item_topic) == 4

    start_worker(wider)
    assert wait_idle(wider, timeout=240)
    _assert_exact(wider, events + later)


def test_rebuild_with_a_new_partition_count_rewrites_the_log_and_stays_exact(
    two_partitions, start_worker
):
    settings = two_partitions
    events = _first_run(settings, start_worker)

    wider = _with_partitions(settings, 4)  # configured, not yet applied: the worker refuses
    refused = start_worker(wider)
    assert refused.wait(timeout=120) == 2
    assert "streamrec rebuild --yes" in refused.log_path.read_text()

    done = _cli(wider, "rebuild", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 partitions" in done.stdout
    assert _partitions(wider, wider.topics.ratings) == 4
    assert _partitions(wider, wider.by_item_topic) == 4
    assert _cli(settings, "rebuild", "--yes").returncode != 0  # fewer: Kafka cannot

    start_worker(wider)
    later = _later_changes(events)
    _produce(wider, later)  # each user's new events follow the rewritten ones in one partition
    assert wait_idle(wider, timeout=240)
    _assert_exact(wider, events + later)


def test_a_state_of_an_older_revision_is_refused_until_rebuilt(two_partitions, start_worker):
    """A state written before the baseline's counts (no ``revision`` in the layout) lacks
    counts no later event restores: the worker says so and stops; a rebuild restores."""
    settings = two_partitions
    events = _first_run(settings, start_worker)
    client = redis.Redis.from_url(settings.redis.url)
    assert int(client.hget(keys.partition_layout(), "revision")) == STATE_REVISION
    client.hdel(keys.partition_layout(), "revision")  # as an older release left it

    _refused_then_rebuilt(settings, start_worker, "older release")
    start_worker(settings)
    assert wait_idle(settings, timeout=240)
    _assert_exact(settings, events)
    assert int(client.hget(keys.partition_layout(), "revision")) == STATE_REVISION
