"""The dead-letter path end to end: a real worker process, the real broker."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from streams.commands.dlq import read_dead_letters
from streams.producer import EventProducer
from streams.schemas.ratings import RatingEvent

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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(settings, port: int) -> dict[str, str]:
    t = settings.topics
    return {
        **os.environ,
        "STREAMREC_APP_ID": settings.app_id,
        "STREAMREC_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "STREAMREC_REDIS__URL": settings.redis.url,
        "STREAMREC_TOPICS__RATINGS": t.ratings,
        "STREAMREC_TOPICS__ITEMS": t.items,
        "STREAMREC_TOPICS__DLQ": t.dlq,
        "STREAMREC_TOPICS__RATINGS_PARTITIONS": str(t.ratings_partitions),
        "STREAMREC_METRICS_PORT": str(port),
        "STREAMREC_DATA_DIR": settings.data_dir,
    }


def _metric(port: int, line_start: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    for line in body.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_invalid_events_reach_the_dlq_unchanged_and_the_worker_keeps_going(worker_settings, topics):
    port = _free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=_env(worker_settings, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
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
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
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
    finally:
        worker.terminate()
        worker.wait(timeout=30)
