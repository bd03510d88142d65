"""The dead-letter path end to end: a real worker process, the real broker."""

import contextlib
import json
import time

import pytest

from streams.commands.dlq import read_dead_letters
from streams.producer import EventProducer
from streams.schemas.ratings import RatingEvent
from tests.conftest import free_port
from tests.scrape import worker_metric

pytestmark = pytest.mark.integration

BAD = {
    b"not json at all": "not_json",
    b"[]": "not_object",
    b'{"item_id":"i","rating":3,"ts":1}': "missing_field",
    b'{"user_id":1,"item_id":"i","rating":3,"ts":1}': "wrong_type",
    b'{"user_id":"","item_id":"i","rating":3,"ts":1}': "empty_id",
    b'{"user_id":"u","item_id":"i","rating":NaN,"ts":1}': "not_finite",
    b'{"user_id":"u","item_id":"i","rating":7,"ts":1}': "rating_out_of_range",
    b'{"user_id":"u","item_id":"i","rating":3,"ts":1,"op":"merge"}': "unknown_op",
}


def _metric(port: int, line_start: str) -> float:
    return worker_metric(port, line_start, timeout=2)


def test_invalid_events_reach_the_dlq_unchanged_and_the_worker_keeps_going(
    engine_settings, topics, start_worker
):
    worker_settings = engine_settings
    port = free_port()
    worker = start_worker(worker_settings, port)
    good = [RatingEvent(f"u{n}", "i", 4.0, 1.0 + n) for n in range(20)]
    with EventProducer(worker_settings.kafka) as producer:
        for n, raw in enumerate(BAD):
            producer.send_raw(topics.ratings, b"u", raw)
            producer.send_rating(topics.ratings, good[n])
        for event in good[len(BAD) :]:
            producer.send_rating(topics.ratings, event)

    deadline = time.monotonic() + 90
    letters = []
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.log_path.read_text()[-2000:]
        letters = read_dead_letters(worker_settings, limit=100)
        if len(letters) >= len(BAD):
            break
        time.sleep(1)
    assert sorted(letter["streamrec.reason"] for letter in letters) == sorted(BAD.values())
    for letter in letters:
        assert BAD[letter["value"].encode()] == letter["streamrec.reason"]  # unchanged bytes
        assert letter["streamrec.source"].startswith(topics.ratings + "/")
    assert _metric(port, 'streamrec_events_total{outcome="valid"}') == len(good)
    assert _metric(port, 'streamrec_dead_letters_total{reason="not_json"}') == 1
    assert worker.poll() is None  # bad input never stops the consumer
    worker.terminate()
    logged = []
    worker.wait(timeout=60)
    for line in worker.log_path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("msg") == "dead-lettered":
                logged.append(record)
    assert sorted(r["reason"] for r in logged) == sorted(BAD.values())  # structured logs
    assert all(r["source"].startswith(topics.ratings + "/") and "event_id" in r for r in logged)
