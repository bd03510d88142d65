"""A real Prometheus (Debian's) scrapes a running worker and reader: the key series exist
with sane values and the alert rules load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.producer import EventProducer
from tests.conftest import free_port, worker_env

pytestmark = pytest.mark.integration
ALERTS = Path(__file__).resolve().parents[2] / "helm" / "streamrec" / "files" / "alerts.yaml"


def query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.loads(urllib.request.urlopen(url, timeout=5).read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def value(port: int, expr: str) -> float | None:
    result = query(port, expr)
    return float(result[0]["value"][1]) if result else None


def wait_for(port: int, expr: str, ok, timeout: float = 60) -> float | None:
    deadline, got = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        got = value(port, expr)
        if got is not None and ok(got):
            return got
        time.sleep(1)
    return got


def test_prometheus_scrapes_worker_and_reader(engine_settings, topics, start_worker, tmp_path):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus not found: .ci/system-deps installs Debian's package")
    worker_port, reader_port, prom_port = free_port(), free_port(), free_port()
    start_worker(engine_settings, worker_port)
    env = worker_env(engine_settings) | {
        "STREAMREC_READER_PORT": str(reader_port),
        "STREAMREC_READER_HOST": "127.0.0.1",
    }
    reader = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "reader"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    config = tmp_path / "prometheus.yml"
    jobs = {"streamrec-worker": worker_port, "streamrec-reader": reader_port}
    scrape = [
        {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        for job, port in jobs.items()
    ]
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(ALERTS)],
                "scrape_configs": scrape,
            }
        )
    )
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip
    try:
        events = list(generate(SyntheticSpec(events=400, users=40, items=30)))
        with EventProducer(engine_settings.kafka) as producer:
            for event in events:
                producer.send_rating(topics.ratings, event)
            producer.send_raw(topics.ratings, b"u", b"not json at all")
        assert wait_idle(engine_settings, timeout=120)
        for _ in range(3):
            urllib.request.urlopen(
                f"http://127.0.0.1:{reader_port}/v1/users/{events[0].user_id}/recommendations",
                timeout=5,
            ).read()
        assert wait_for(prom_port, 'sum(up{job=~"streamrec.*"})', lambda v: v == 2) == 2
        valid = 'sum(streamrec_events_total{outcome="valid"})'
        assert wait_for(prom_port, valid, lambda v: v == len(events)) == len(events)
        dead = 'sum(streamrec_dead_letters_total{reason="not_json"})'
        assert wait_for(prom_port, dead, lambda v: v == 1) == 1
        lists = "sum(streamrec_freshness_seconds_count)"
        assert wait_for(prom_port, lists, lambda v: v > 0) > 0
        median = value(
            prom_port, "histogram_quantile(0.5, sum by (le) (streamrec_freshness_seconds_bucket))"
        )
        assert median is not None and 0 < median < 60
        item_lists = "sum(streamrec_item_freshness_seconds_count)"
        assert wait_for(prom_port, item_lists, lambda v: v > 0) > 0
        hybrid_lists = "sum(streamrec_hybrid_freshness_seconds_count)"
        assert wait_for(prom_port, hybrid_lists, lambda v: v > 0) > 0
        route = 'sum(streamrec_reader_requests_total{route="/v1/users/{user_id}/recommendations"})'
        assert wait_for(prom_port, route, lambda v: v >= 3) >= 3
        assert wait_for(prom_port, "max(streamrec_consumer_lag_records)", lambda v: v == 0) == 0
        assert value(prom_port, "sum(streamrec_stale_lists)") is not None
        rules = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/rules", timeout=5).read()
        )
        loaded = [r["name"] for g in rules["data"]["groups"] for r in g["rules"]]
        shipped = yaml.safe_load(ALERTS.read_text())
        names = [rule["alert"] for group in shipped["groups"] for rule in group["rules"]]
        assert sorted(loaded) == sorted(names) and "StreamrecConsumerLagHigh" in loaded
    finally:
        for proc in (server, reader):
            proc.terminate()
            proc.wait(timeout=30)
