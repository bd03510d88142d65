"""The full ML-100K replay on a Redis Cluster beside the same replay on one Redis (issue 15).

Each round starts a fresh local cluster (three masters, a replica each, Debian's
``redis-server``), replays the whole stream through one worker pointed at it, then
through one worker on the stack's single Redis, and reports for each: events/s to the
drained topics, to the drained stale lists, and the check of the state against the
from-scratch reference (every item, a sample of users). On the cluster it also reports
each node's share of the commands and of the CPU, naming the master of the shared
``{g}`` slot (means, counts, queues, the embedding's item rows): the hot spot, if any.

    .venv/bin/python -m bench.cluster [--rounds 3] [--limit N] [--check-users 200]
    .venv/bin/python -m bench.cluster --wait-replicas 1  # the replica barrier's cost

Results go to bench/results/cluster-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import redis.cluster

from streams.commands.wait_idle import lag, wait_idle
from streams.datasets import movielens
from streams.producer import EventProducer
from streams.settings import RedisConnection, TopicSettings, WorkerSettings
from streams.stack.redis_cluster import LocalRedisCluster
from streams.state import keys
from streams.topics import create_topics, delete_topics, topic_specs
from tests.conftest import free_port, worker_env
from tests.integration.test_engine_exact import assert_state_equals_reference
from tests.reference import final_ratings

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def calls(port: int) -> int:
    stats = redis.Redis(port=port, socket_timeout=10).info("commandstats")
    return sum(v["calls"] for v in stats.values())


def replay(events: list, items: list, settings: WorkerSettings, log: Path) -> dict[str, float]:
    """One worker over the whole stream: seconds to the drained topics and to idle."""
    create_topics(settings.kafka, topic_specs(settings.topics))
    with log.open("wb") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=worker_env(settings, free_port()), stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
    try:
        time.sleep(8)  # the worker joins its group before the clock starts
        with EventProducer(settings.kafka) as producer:
            start = time.perf_counter()
            for item in items:
                producer.send_item(settings.topics.items, item)
            for event in events:
                producer.send_rating(settings.topics.ratings, event)
        while lag(settings) > 0:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited; see {log}")
            time.sleep(0.25)
        drained = time.perf_counter() - start
        if not wait_idle(settings, timeout=600):
            raise RuntimeError(f"the worker did not go idle; see {log}")
        idle = time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        internal = [settings.by_item_topic, f"{settings.app_id}-__assignor-__leader"]
        delete_topics(settings.kafka, [s.name for s in topic_specs(settings.topics)] + internal)
    return {"events_per_s": len(events) / drained, "drained_s": drained, "idle_s": idle}


def checked(settings: WorkerSettings, events: list, sample: int) -> float:
    """Seconds the reference check took; raises on any difference."""
    started = time.perf_counter()
    users = sorted({u for u, _i in final_ratings(events)})
    assert_state_equals_reference(settings, events, random.Random(7).sample(users, sample))
    return time.perf_counter() - started


def scratch(base: WorkerSettings, url: str, cluster: bool, wait: int = 0) -> WorkerSettings:
    tag = os.urandom(4).hex()
    return base.model_copy(
        update={
            "app_id": f"cluster-{tag}",
            "redis": RedisConnection(url=url, cluster=cluster, wait_replicas=wait),
            "topics": TopicSettings(ratings=f"c{tag}.ratings", items=f"c{tag}.items",
                                    dlq=f"c{tag}.dlq"),
            "data_dir": f"/tmp/streamrec-cluster-{tag}",
        }
    )  # fmt: skip


def on_cluster(
    base: WorkerSettings, events: list, items: list, sample: int, wait: int
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder, LocalRedisCluster(Path(folder)) as cluster:
        settings = scratch(base, cluster.url, cluster=True, wait=wait)
        nodes = {n.port: n.proc.pid for n in cluster.nodes if n.proc is not None}
        cpu = {port: cpu_seconds(pid) for port, pid in nodes.items()}
        before = {port: calls(port) for port in nodes}
        run: dict[str, object] = dict(replay(events, items, settings, Path(folder) / "w.log"))
        client = redis.cluster.RedisCluster.from_url(cluster.url)
        shared = client.get_node_from_key(keys.user_means()).port
        roles = {p: redis.Redis(port=p).info("replication")["role"] for p in nodes}
        per_node = {
            str(port): {
                "role": roles[port] + (" of {g}" if port == shared else ""),
                "commands": calls(port) - before[port],
                "cpu_s": round(cpu_seconds(pid) - cpu[port], 2),
                "keys": int(redis.Redis(port=port).dbsize()),
            }
            for port, pid in nodes.items()
        }
        run["nodes"] = per_node
        run["check_s"] = checked(settings, events, sample)
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="the first N events only")
    parser.add_argument("--check-users", type=int, default=200)
    parser.add_argument(
        "--wait-replicas", type=int, default=0, help="the cluster side's replica barrier"
    )
    args = parser.parse_args()
    base = WorkerSettings()
    folder = movielens.ensure_ml100k(Path(base.cache_dir) / "datasets")
    events, items = movielens.load_ratings(folder), movielens.load_items(folder)
    if args.limit:
        events = events[: args.limit]
    single_url = base.redis.url.rsplit("/", 1)[0] + "/6"
    rounds = []
    for n in range(args.rounds):
        clustered = on_cluster(base, events, items, args.check_users, args.wait_replicas)
        redis.Redis.from_url(single_url).flushdb()
        settings = scratch(base, single_url, cluster=False)
        with tempfile.TemporaryDirectory() as logs:
            single: dict[str, object] = dict(replay(events, items, settings, Path(logs) / "w.log"))
        single["check_s"] = checked(settings, events, args.check_users)
        rounds.append({"cluster": clustered, "single": single})
        print(f"round {n + 1}/{args.rounds}: {json.dumps(rounds[-1])}", flush=True)
    summary = {
        side: {
            key: statistics.median(float(r[side][key]) for r in rounds)  # type: ignore[index]
            for key in ("events_per_s", "drained_s", "idle_s")
        }
        for side in ("cluster", "single")
    }
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(
        json.dumps({"events": len(events), "summary": summary, "rounds": rounds}, indent=2)
    )
    print(json.dumps(summary, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
