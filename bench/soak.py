"""The soak (issue 15): steady writes at half the capacity measured in the same run and
steady reads, for a long time, with every process's memory, Redis's memory, the lag, the
freshness p99 and the errors sampled over time and drawn.

    .venv/bin/python -m bench.soak --minutes 30 [--reads 200] [--rate R] [--sample-s 10]
    streamrec bench soak --minutes 30

First the worker's capacity is measured on a synthetic stream (``bench.replay``, no
throttle); the soak then writes at half of it (or ``--rate``) on a stream of 1,000,000
users and 100,000 items while ``--reads`` requests a second rotate over the users
written so far. Goals (issue 15): RSS flat within 10% after the warm-up, the lag bounded,
no error, no dead letter. Results: bench/results/soak-<timestamp>.{json,md,png}.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis

from bench.reader import running_reader
from bench.replay import counter_total, one_run, scratch_settings
from bench.soak_report import report
from streams.commands.wait_idle import lag
from streams.datasets import synthetic
from streams.producer import EventProducer, paced
from streams.settings import WorkerSettings
from streams.stack.config import StackSettings
from streams.stack.process import ManagedProcess
from streams.topics import create_topics, delete_topics, topic_specs
from tests.conftest import free_port, worker_env

DB = 6  # the soak's Redis database (the replay bench uses 5)


def rss_mb(pid: int, children: bool = True) -> float:
    """Resident memory of a process and (``children``) its descendants, in MB, 0 if it is
    gone. Redis is measured alone: its append-only rewrite is a fork whose pages are
    mostly the parent's, counted twice if summed."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            if not children:
                break
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def stack_pids() -> dict[str, int]:
    stack = StackSettings()
    out = {}
    for name in ("kafka", "redis"):
        pid = ManagedProcess(name, stack.state / name).pid()
        if pid is not None:
            out[name] = pid
    return out


class Reads:
    """``rate`` GETs a second of served lists, rotating over ``users``, on keep-alive
    connections from a few threads; counts answers by status."""

    def __init__(self, base: str, users: list[str], rate: float, threads: int = 4) -> None:
        self.host, self.port = base.split("//")[1].split(":")
        self.users, self.rate, self.threads = users, rate, threads
        self.status: dict[str, int] = {}
        self.failed = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def _run(self, k: int) -> None:
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=10)
        start, n = time.perf_counter(), 0
        share = self.rate / self.threads
        while not self.stop.is_set():
            delay = start + n / share - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            user = self.users[(n * self.threads + k) % len(self.users)]
            n += 1
            try:
                conn.request("GET", f"/v1/users/{user}/recommendations?n=10")
                answer = conn.getresponse()
                answer.read()
                key = f"{answer.status // 100}xx"
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(self.host, int(self.port), timeout=10)
                key = "failed"
            with self.lock:
                self.status[key] = self.status.get(key, 0) + 1

    def start(self) -> None:
        for k in range(self.threads):
            threading.Thread(target=self._run, args=(k,), daemon=True).start()


def window_p99(before: dict[float, float], after: dict[float, float]) -> float | None:
    """The p99 of the observations between two reads of a cumulative histogram."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    target, lower = 0.99 * counts[-1], 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= target:
            return bound if bound != float("inf") else lower
        lower = bound
    return None


def buckets(port: int, metric: str) -> dict[float, float]:
    import urllib.request

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in body.splitlines():
        if line.startswith(metric + "_bucket"):
            out[float(line.split('le="')[1].split('"')[0])] = float(line.rsplit(" ", 1)[1])
    return out


def soak(args: argparse.Namespace) -> dict[str, Any]:
    base = WorkerSettings()
    spec = synthetic.SyntheticSpec(events=20_000, users=1_000_000, items=100_000)
    probe = list(synthetic.generate(spec))
    capacity = one_run(probe, base, fan_out=args.fan_out, rate=0)["events_per_s"]
    rate = args.rate or capacity / 2
    settings = scratch_settings(base, "soak", DB, args.fan_out)
    url = settings.redis.url
    client = redis.Redis.from_url(url)
    client.flushdb()
    create_topics(settings.kafka, topic_specs(settings.topics))
    port = free_port()
    worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"],
                              env=worker_env(settings, port), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    seconds = args.minutes * 60
    stream = synthetic.generate(
        synthetic.SyntheticSpec(events=int(rate * seconds * 1.2) + 1, users=1_000_000,
                                items=100_000, seed=11)
    )  # fmt: skip
    stop = threading.Event()
    sent = [0]

    def write() -> None:
        with EventProducer(settings.kafka) as producer:
            for event in paced(stream, rate):
                if stop.is_set():
                    return
                producer.send_rating(settings.topics.ratings, event)
                sent[0] += 1

    samples: list[dict[str, Any]] = []
    reader_env = {"STREAMREC_REDIS__URL": url, "STREAMREC_TOPICS__RATINGS": settings.topics.ratings}
    try:
        time.sleep(8)  # the worker joins its group
        with running_reader(1, reader_env) as base_url:
            reader_pid = int(
                subprocess.run(["pgrep", "-f", "-n", "streams.cli reader"],
                               capture_output=True, text=True).stdout.split()[0]
            )  # fmt: skip
            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            time.sleep(min(10.0, args.sample_s))
            users = [u.decode() for u in client.hkeys("sr:v1:{g}:means")][:50_000] or ["u1"]
            reads = Reads(base_url, users, args.reads)
            reads.start()
            pids = {"worker": worker.pid, "reader": reader_pid, **stack_pids()}
            start = time.monotonic()
            before = buckets(port, "streamrec_served_freshness_seconds")
            while time.monotonic() - start < seconds:
                time.sleep(args.sample_s)
                after = buckets(port, "streamrec_served_freshness_seconds")
                sample = {
                    "t_s": time.monotonic() - start,
                    "rss_mb": {n: rss_mb(p, n != "redis") for n, p in pids.items()},
                    "redis_used_mb": client.info("memory")["used_memory"] / 2**20,
                    "lag": lag(settings),
                    "served_freshness_p99_s": window_p99(before, after),
                    "sent": sent[0],
                    "reads": dict(reads.status),
                    "redis_errors": counter_total([port], "streamrec_redis_errors_total"),
                    "dead_letters": counter_total([port], "streamrec_dead_letters_total"),
                    "worker_alive": worker.poll() is None,
                }
                before = after
                samples.append(sample)
                print(json.dumps(sample), flush=True)
            reads.stop.set()
            stop.set()
    finally:
        stop.set()
        worker.terminate()
        worker.wait(timeout=60)
        internal = [settings.by_item_topic, f"{settings.app_id}-__assignor-__leader"]
        delete_topics(settings.kafka, [s.name for s in topic_specs(settings.topics)] + internal)
    return {
        "minutes": args.minutes,
        "capacity_events_per_s": capacity,
        "rate_events_per_s": rate,
        "reads_per_s": args.reads,
        "fan_out_cap": args.fan_out,
        "sample_s": args.sample_s,
        "samples": samples,
        "median_sent_per_s": statistics.median(
            (b["sent"] - a["sent"]) / (b["t_s"] - a["t_s"]) for a, b in itertools.pairwise(samples)
        )
        if len(samples) > 1
        else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=0, help="events/s; 0 = half the capacity")
    parser.add_argument("--reads", type=float, default=200, help="GETs a second")
    parser.add_argument("--sample-s", type=float, default=10)
    parser.add_argument(
        "--fan-out", type=int, default=50, help="the fan-out cap (docs/hot-items.md)"
    )
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    result = soak(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"soak-{time.strftime('%Y%m%d-%H%M%S')}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1))
    text = report(result, stem.with_suffix(".png"))
    stem.with_suffix(".md").write_text(text)
    print(text)
    print(f"wrote {stem}.json, .md, .png")


if __name__ == "__main__":
    main()
