"""A fuzz campaign on the real broker: 10,000+ records, valid events mixed with every
hostile class found so far, through a real worker. Nothing crashes, every bad record
reaches the dead-letter topic with its reason, and the state equals the reference built
from the valid events alone (user-based, item-to-item and embedding paths)."""

import json
import random
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.producer import EventProducer
from streams.schemas.dlq import header_map
from streams.schemas.ratings import RatingEvent
from streams.state import keys
from streams.topics import end_offsets
from tests.conftest import worker_env
from tests.cooccurrence import assert_cooccurrence_equals_reference
from tests.integration.test_engine_exact import assert_state_equals_reference
from tests.reference import final_ratings

pytestmark = pytest.mark.integration


def _event(user: str, **fields) -> bytes:
    return json.dumps(
        {"user_id": user, "item_id": "i1", "rating": 4, "ts": 1.7e9} | fields
    ).encode()


def _raw(user: str, rating: str = "4", ts: str = "1700000000", item: str = '"i1"') -> bytes:
    return f'{{"user_id":"{user}","item_id":{item},"rating":{rating},"ts":{ts}}}'.encode()


def hostile(rng: random.Random, user: str) -> tuple[bytes | None, bytes | None, str]:
    """One bad record of a random class: (key, value, the reason it must get)."""
    key = user.encode()
    digits = "9" * rng.randint(310, 400)
    depth = rng.randint(1_000, 3_000)
    classes = [
        (key, None, "null_value"),
        (key, _event(user, rating=None), "missing_field"),
        (key, _raw(user, rating=digits), "not_finite"),
        (key, _raw(user, ts=digits), "not_finite"),
        (key, _raw(user, rating="9" * 5_000), "not_json"),
        (key, b'{"user_id":"' + key + b'","x":' + b"[" * depth + b"]" * depth + b"}", "too_deep"),
        (key, _raw(user, item='"\\ud800"'), "bad_text"),
        (key, _raw(user, item=f'"x{rng.randint(0, 9)}\\udfff"'), "bad_text"),
        (key, _event(user, ts=rng.uniform(1.7e12, 1.8e12)), "timestamp_in_milliseconds"),
        (key, _event(user, ts=rng.uniform(4.2e9, 9e10)), "timestamp_in_future"),
        (key, _event(user, ts="0001-01-01T00:00:00+01:00"), "bad_timestamp"),
        (key, _event(user, ts="yesterday"), "bad_timestamp"),
        (key, b"\xff\xfe" + key, "not_json"),
        (key, b"[1, 2]", "not_object"),
        (key, _event(user, rating=rng.choice([0, 5.5, -1, 1e9])), "rating_out_of_range"),
        (key, _event(user, rating="4"), "wrong_type"),
        (key, _event(user, user_id=""), "empty_id"),
        (key, _event(user, item_id=" "), "empty_id"),
        (key, _event(user, op="merge"), "unknown_op"),
        (key, _raw(user, rating="NaN"), "not_finite"),
        (b"someone-else", _event(user), "key_mismatch"),
        (None, _event(user), "key_mismatch"),
    ]
    if rng.random() < 0.01:  # a few, they are large
        return key, _event(user, pad="x" * 70_000), "too_large"
    return rng.choice(classes)


def read_all_dead_letters(settings) -> list[tuple[bytes | None, dict[str, str]]]:
    topic = settings.topics.dlq
    ends = end_offsets(settings.kafka, topic)
    consumer = Consumer({**settings.kafka.confluent_config(), "group.id": "fuzz-reader"})
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    letters: list[tuple[bytes | None, dict[str, str]]] = []
    idle = 0
    while len(letters) < sum(ends.values()) and idle < 20:
        batch = consumer.consume(num_messages=1000, timeout=0.5)
        idle = 0 if batch else idle + 1
        letters += [(m.value(), header_map(m.headers())) for m in batch if not m.error()]
    consumer.close()
    return letters


@pytest.mark.timeout(900)
def test_ten_thousand_hostile_and_valid_records_crash_nothing_and_lose_nothing(
    engine_settings, topics, tmp_path
):
    rng = random.Random(20261127)
    spec = SyntheticSpec(events=6_000, users=150, items=80, rerate_share=0.1, delete_share=0.05)
    valid = list(generate(spec))
    odd_ids = ['x" onanimationstart="alert(1)', "café 🎬", "<b>1</b>", "a'b", "tab\tid"]
    valid += [
        RatingEvent(f"u{n}", item, 3.0 + n % 3, spec.start_ts + 1e6 + n)
        for n, item in enumerate(odd_ids)
    ]
    bad = [hostile(rng, f"u{rng.randrange(spec.users)}") for _ in range(4_500)]
    stream: list[tuple[bytes | None, bytes | None, str | None]] = [
        (e.key, e.encode(), None) for e in valid
    ]
    for record in bad:  # valid events keep their order; bad ones fall anywhere
        stream.insert(rng.randrange(len(stream) + 1), record)
    assert len(stream) >= 10_000

    log_path = tmp_path / "worker.log"  # a file: 4,500 warnings would fill a pipe and block
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=worker_env(engine_settings),
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        _run(engine_settings, topics, stream, worker)
    finally:
        if worker.poll() is None:
            worker.kill()
    log = log_path.read_text(errors="replace")
    assert "Crashed" not in log and "failed; stopping the worker" not in log, log[-3000:]
    assert log.count('"msg": "dead-lettered"') == len(bad)  # one structured line each

    letters = read_all_dead_letters(engine_settings)
    want = Counter(reason for _k, _v, reason in bad)
    assert Counter(h["streamrec.reason"] for _v, h in letters) == want
    by_value = {value: reason for _k, value, reason in bad}
    for value, headers in letters:
        assert headers["streamrec.source"].startswith(topics.ratings + "/")
        assert len(headers["streamrec.detail"]) <= 512
        if value in by_value:  # unchanged bytes (distinct values only)
            assert by_value[value] == headers["streamrec.reason"]

    assert_state_equals_reference(engine_settings, valid)
    client = redis.Redis.from_url(engine_settings.redis.url)
    assert_cooccurrence_equals_reference(client, valid, engine_settings.item_cf)
    final = final_ratings(valid)
    mean = np.frombuffer(client.hget(keys.embedding_model(), "mean"), dtype="<f8")
    assert mean[0] == len(final) and abs(mean[1] - sum(final.values())) < 1e-6


def _run(settings, topics, stream, worker) -> None:
    with EventProducer(settings.kafka) as producer:
        for key, value, _reason in stream:
            producer.send_raw(topics.ratings, key, value)
    assert producer.report.failed == 0
    assert wait_idle(settings, timeout=800), "the worker did not drain the stream"
    assert worker.poll() is None, "the worker stopped"
    worker.terminate()
    worker.wait(timeout=60)
