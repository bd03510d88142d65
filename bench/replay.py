"""Replay throughput of the real pipeline: producer → Kafka → worker → Redis.

Reports, for the same run, the time until the worker has drained its topics (the event
path: every event applied, every acting user's list rewritten) and the time until the
stale backlog is also empty (every affected list refreshed). Results go to
bench/results/replay-<timestamp>.json.

    .venv/bin/python -m bench.replay --dataset ml-100k [--limit N] [--runs 3]
    .venv/bin/python -m bench.replay --dataset synthetic --events 1000000 --fan-out 50
    .venv/bin/python -m bench.replay --dataset ml-100k --limit 60000 --rate 1000  # freshness
    .venv/bin/python -m bench.replay --dataset ml-100k --limit 30000 --floor  # + the floor
    .venv/bin/python -m bench.replay --dataset ml-100k --served both --runs 3  # its cost
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path

import redis
from tqdm import tqdm

from streams.commands.wait_idle import lag
from streams.datasets import movielens, synthetic
from streams.producer import EventProducer, paced
from streams.settings import RedisConnection, TopicSettings, WorkerSettings
from streams.state import keys
from streams.topics import create_topics, delete_topics, topic_specs
from tests.conftest import free_port, worker_env


def freshness_quantiles(
    ports: list[int], quantiles=(0.5, 0.95, 0.99), metric: str = "streamrec_freshness_seconds"
) -> dict[str, float]:
    """Quantiles of the workers' freshness histograms (summed), interpolated in buckets."""
    counts: dict[float, float] = {}
    for port in ports:
        url = f"http://127.0.0.1:{port}/metrics"
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        for line in body.splitlines():
            if line.startswith(metric + "_bucket"):
                bound = float(line.split('le="')[1].split('"')[0])
                counts[bound] = counts.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    buckets = sorted(counts.items())
    total = buckets[-1][1] if buckets else 0
    out = {"freshness_samples": total}
    for q in quantiles:
        target, lower, below = q * total, 0.0, 0.0
        for bound, count in buckets:
            if count >= target and total:
                share = (target - below) / max(count - below, 1e-12)
                top = bound if bound != float("inf") else lower
                out[f"freshness_p{round(q * 100)}_s"] = lower + share * (top - lower)
                break
            lower, below = bound, count
    return out


def counter_total(ports: list[int], metric: str) -> float:
    """A counter summed over its labels and the workers."""
    total = 0.0
    for port in ports:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        for line in body.decode().splitlines():
            if line.startswith(metric) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
    return total


def database_memory(client: redis.Redis) -> int:
    """Bytes held by this database's keys (MEMORY USAGE summed over a SCAN): the
    instance's used_memory also counts the other databases."""
    total = 0
    for key in client.scan_iter(count=1000):
        total += int(client.memory_usage(key, samples=0) or 0)  # type: ignore[arg-type]
    return total


def scratch_settings(
    base: WorkerSettings, kind: str, db: int, fan_out: int, **more: object
) -> WorkerSettings:
    """A run's own app id, topics, data folder and Redis database (``db``), so runs never
    share state; ``more`` replaces further settings."""
    tag = uuid.uuid4().hex[:8]
    return base.model_copy(
        update={
            "app_id": f"{kind}-{tag}",
            "redis": RedisConnection(url=base.redis.url.rsplit("/", 1)[0] + f"/{db}"),
            "topics": TopicSettings(ratings=f"{kind}{tag}.ratings", items=f"{kind}{tag}.items",
                                    dlq=f"{kind}{tag}.dlq"),
            "data_dir": f"/tmp/streamrec-{kind}-{tag}",
            "user_cf": replace(base.user_cf, fan_out_cap=fan_out),
            **more,
        }
    )  # fmt: skip


def _converged(client: redis.Redis) -> bool:
    """Every list refreshed since the last mean moved, and nothing queued."""
    changes, swept = client.hmget(keys.stream_stats(), ["mean_changes", "swept"])
    if int(swept or 0) < int(changes or 0):
        return False
    return client.zcard(keys.stale_users()) + client.zcard(keys.served_due()) == 0


def one_run(
    events: list,
    base: WorkerSettings,
    fan_out: int,
    rate: float,
    item_cf: bool = True,
    hybrid: bool = True,
    workers: int = 1,
    floor: bool = False,
    log_dir: str | None = None,
    served: bool = True,
    items: list | None = None,
) -> dict[str, float]:
    """Replay ``events`` through ``workers`` worker processes (or the do-nothing floor)
    into Redis database 5, flushed first; the state stays there for the reader bench."""
    settings = scratch_settings(
        base, "bench", 5, fan_out,
        item_cf=replace(base.item_cf, enabled=item_cf),
        embedding=replace(base.embedding, enabled=hybrid),
        served=base.served.model_copy(update={"enabled": served}),
    )  # fmt: skip
    url = settings.redis.url
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.config_resetstat()  # commands per event count this run only
    create_topics(settings.kafka, topic_specs(settings.topics))
    ports = [free_port() for _ in range(workers)]
    command = ["bench.floor"] if floor else ["streams.cli", "worker"]
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    logs = [
        open(Path(log_dir) / f"{settings.app_id}-{k}.log", "wb") if log_dir else subprocess.DEVNULL  # noqa: SIM115
        for k in range(workers)
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", *command],
            env=worker_env(settings, port),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    try:
        time.sleep(8 + 4 * (workers - 1))  # let the workers join before the clock starts
        with EventProducer(settings.kafka) as producer:
            start = time.perf_counter()
            for item in items or []:  # the catalogue first, as the demo sends it
                producer.send_item(settings.topics.items, item)
            for event in tqdm(paced(events, rate), total=len(events), unit="ev", leave=False):
                producer.send_rating(settings.topics.ratings, event)
        while lag(settings) > 0:
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError(f"a worker process exited during the run ({command})")
            time.sleep(0.25)
        drained = time.perf_counter() - start
        while client.zcard(keys.stale_users()) + client.zcard(keys.served_due()) > 0:
            time.sleep(0.25)
        settled = time.perf_counter() - start
        while not _converged(client):  # the sweep after the stream (streams.worker.sweep)
            time.sleep(0.25)
        converged = time.perf_counter() - start
        # the worker's commands and traffic first: the memory scan below is the bench's own
        # (one MEMORY USAGE per key, ~0.2 commands per event if counted)
        commands = sum(v["calls"] for v in client.info("commandstats").values())
        stats = client.info("stats")
        memory = database_memory(client)
        traffic = stats["total_net_input_bytes"] + stats["total_net_output_bytes"]
        if floor:
            return {"events": len(events), "event_path_s": drained,
                    "events_per_s": len(events) / drained}  # fmt: skip
        item = freshness_quantiles(ports, metric="streamrec_item_freshness_seconds")
        mixed = freshness_quantiles(ports, metric="streamrec_hybrid_freshness_seconds")
        ages = freshness_quantiles(ports, metric="streamrec_served_freshness_seconds")
        fused = counter_total(ports, "streamrec_served_fused_total")
        return (
            freshness_quantiles(ports)
            | {f"item_{k}": v for k, v in item.items()}
            | {f"hybrid_{k}": v for k, v in mixed.items()}
            | {f"served_{k}": v for k, v in ages.items()}
            | {
                "served_fused_per_event": fused / len(events),
                "events": len(events),
                "event_path_s": drained,
                "events_per_s": len(events) / drained,
                "with_stale_drain_s": settled,
                "converged_s": converged,
                "redis_used_memory_bytes": memory,
                "redis_commands_per_event": commands / len(events),
                "redis_bytes_per_event": traffic / len(events),
                "item_cf": float(item_cf),
                "hybrid": float(hybrid),
                "served": float(served),
                "users": float(client.hlen(keys.user_means())),
            }
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        for log in logs:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        internal = [settings.by_item_topic, f"{settings.app_id}-__assignor-__leader"]
        delete_topics(settings.kafka, [s.name for s in topic_specs(settings.topics)] + internal)


def modes_key(item_cf: bool, hybrid: bool, served: bool) -> tuple[float, float, float]:
    return float(item_cf), float(hybrid), float(served)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=["ml-100k", "synthetic"], default="ml-100k")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--events", type=int, default=100_000, help="synthetic stream size")
    parser.add_argument("--fan-out", type=int, default=0, help="fMax, 0 = exact")
    parser.add_argument("--rate", type=float, default=0, help="events/s, 0 = unthrottled")
    parser.add_argument(
        "--item-cf",
        choices=["on", "off", "both"],
        default="on",
        help="the item-to-item path; both = alternate on/off runs, reported side by side",
    )
    parser.add_argument(
        "--hybrid",
        choices=["on", "off", "both"],
        default="on",
        help="the content and embedding path; both = alternate on/off runs",
    )
    parser.add_argument(
        "--served",
        choices=["on", "off", "both"],
        default="on",
        help="the fused served lists; both = alternate on/off runs",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes in the group")
    parser.add_argument("--logs", default=None, help="folder for the workers' logs")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run the do-nothing Faust floor on the same events in every run",
    )
    args = parser.parse_args()
    base = WorkerSettings()
    items = None
    if args.dataset == "ml-100k":
        folder = movielens.ensure_ml100k(Path(base.cache_dir) / "datasets")
        events = movielens.load_ratings(folder)
        items = movielens.load_items(folder)  # titles and attributes: content, served lists
    else:
        spec = synthetic.SyntheticSpec(events=args.events, users=50_000, items=10_000)
        events = list(synthetic.generate(spec))
    if args.limit:
        events = events[: args.limit]
    choice = {"on": [True], "off": [False], "both": [True, False]}
    modes = [
        (i, h, f)
        for i in choice[args.item_cf]
        for h in choice[args.hybrid]
        for f in choice[args.served]
    ]
    runs = []
    for n in range(args.runs):
        for item_cf, hybrid, served in modes:
            redis.Redis.from_url(base.redis.url.rsplit("/", 1)[0] + "/5").config_resetstat()
            run = one_run(
                events,
                base,
                args.fan_out,
                args.rate,
                item_cf,
                hybrid,
                args.workers,
                log_dir=args.logs,
                served=served,
                items=items,
            )
            run["workers"] = args.workers
            if args.floor:
                floor = one_run(events, base, 0, args.rate, floor=True, items=items)
                run["floor_events_per_s"] = floor["events_per_s"]
                run["floor_ratio"] = run["events_per_s"] / floor["events_per_s"]
            runs.append(run)
            print(f"run {n + 1}/{args.runs}: {json.dumps(runs[-1])}", flush=True)
    summary: dict[str, object] = {"runs": args.runs, "dataset": args.dataset, "limit": args.limit}
    for item_cf, hybrid, served in modes:
        mine = [r for r in runs if (r["item_cf"], r["hybrid"], r["served"]) == modes_key(
            item_cf, hybrid, served)]  # fmt: skip
        label = f"item_cf_{'on' if item_cf else 'off'}_hybrid_{'on' if hybrid else 'off'}"
        label += f"_served_{'on' if served else 'off'}"
        summary[label] = {key: statistics.median(r[key] for r in mine) for key in mine[0]}
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"replay-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
