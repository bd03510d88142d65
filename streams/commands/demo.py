"""``streamrec demo``: the real thing on one machine — worker, MovieLens-100K replay, a top-10."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from tqdm import tqdm

from streams.commands.wait_idle import wait_idle
from streams.datasets import movielens
from streams.producer import EventProducer
from streams.settings import WorkerSettings
from streams.state import keys, watch
from streams.state.clients import sync_client
from streams.topics import create_topics, topic_specs


def _title(client: redis.Redis, item: str) -> tuple[str, str]:
    meta: Any = client.hgetall(keys.item_meta(item))
    genres = ", ".join(json.loads(meta.get(b"attributes", b"{}")).get("genres", []))
    return meta.get(b"title", item.encode()).decode(), genres


def print_top(client: redis.Redis, user: str, n: int = 10) -> None:
    """The served list as the worker stored it (the one read a frontend does), with each
    item's reason."""
    stored: Any = client.hget(keys.user_served(user), "doc")
    if stored is None:
        print(f"\nno served list for user {user} yet")
        return
    whys = {
        "user-cf": "users like you rated it highly",
        "content": "its genres, year and title match what you liked",
        "embedding": "the model learned from everyone's ratings expects you to like it",
        "popular": "many people rated it lately",
    }
    print(f"\nTop-{n} for user {user} (title, genres, why):")
    for rank, item in enumerate(json.loads(stored)["items"][:n], start=1):
        title, genres = item["title"] or item["item_id"], ", ".join(item["genres"])
        if item["because_item"]:
            why = f"because you rated {item['because_title'] or item['because_item']}"
        else:
            why = whys.get(item["source"], item["source"])
        print(f"  {rank:>2}. {title}  ({genres})  — {why}")


def start_reader(port: int) -> subprocess.Popen:
    """The reader on ``port``, its output in ``.state/reader.log``; writes open to
    anyone unless an API key is set (a local demo)."""
    env = {**os.environ, "STREAMREC_READER_PORT": str(port)}
    if not env.get("STREAMREC_API_KEY"):
        env["STREAMREC_ALLOW_ANONYMOUS_WRITES"] = "true"
    log = open(Path(".state") / "reader.log", "ab")  # noqa: SIM115 (the child keeps it)
    command = [sys.executable, "-m", "streams.cli", "reader"]
    return subprocess.Popen(command, env=env, stdout=log, stderr=log)


def _paths(settings: WorkerSettings) -> tuple[str, ...]:
    chosen = [watch.USER_BASED]
    if settings.item_cf.enabled:
        chosen.append(watch.ITEM_CF)
    if settings.embedding.enabled:
        chosen.append(watch.HYBRID)
    return tuple(chosen)


def worker_count(settings: WorkerSettings) -> int:
    """One worker process per core this process may use (a Faust worker runs on one
    core; on 2 cores a second one measured 1.4x the events/s on ML-100K), at most one
    per partition."""
    return max(1, min(usable_cores(), settings.topics.ratings_partitions))


def usable_cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


def start_workers(settings: WorkerSettings, count: int) -> list[subprocess.Popen]:
    """``count`` workers in one consumer group: each its own metrics port and data dir.

    Each worker's list process (``STREAMREC_LISTS_PROCESS``) wants a core of its own: two
    workers with theirs on 2 cores took 62–72 s for the demo against 58–60 s without
    (docs/performance.md), so below two cores per worker they are left off unless the
    environment says otherwise."""
    workers = []
    spare = usable_cores() >= 2 * count
    for k in range(count):
        env = dict(os.environ)
        env.setdefault("STREAMREC_LISTS_PROCESS", "true" if spare else "false")
        if k:
            env["STREAMREC_METRICS_PORT"] = str(settings.metrics_port + k)
            env["STREAMREC_DATA_DIR"] = f"{settings.data_dir}-{k}"
        workers.append(subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env))
    return workers


def _applied(settings: WorkerSettings, client: redis.Redis) -> dict[str, int]:
    """Events each path has applied so far, from its own fences."""
    found = watch.path_progress(
        client,
        settings.topics.ratings,
        settings.by_item_topic,
        settings.topics.ratings_partitions,
        _paths(settings),
    )
    return {progress.path: progress.applied for progress in found}


def _follow_paths(
    settings: WorkerSettings,
    workers: list[subprocess.Popen],
    client: redis.Redis,
    total: int,
    started: float,
    before: dict[str, int],
) -> bool:
    """One bar per path, each from that path's own fences counted from ``before`` (what
    it had applied when this replay began: a second demo on the same state starts at 0,
    not full), until every path has applied every event; then a line per path with the
    second it finished."""
    paths = _paths(settings)
    bars = {
        p: tqdm(total=total, unit="ev", desc=f"{p:>17}", position=k) for k, p in enumerate(paths)
    }
    finished: dict[str, float] = {}
    while len(finished) < len(paths):
        if any(worker.poll() is not None for worker in workers):
            print("a worker exited", file=sys.stderr)
            return False
        for path, applied in _applied(settings, client).items():
            bar = bars[path]
            bar.n = min(total, applied - before.get(path, 0))
            bar.refresh()
            if bar.n >= total and path not in finished:
                finished[path] = time.perf_counter() - started
        time.sleep(0.5)
    for bar in bars.values():
        bar.close()
    for path, seconds in finished.items():
        print(f"  {path}: every event applied {seconds:.1f}s after the replay started")
    return True


def run(settings: WorkerSettings, user: str, exit_after: bool, port: int = 8080) -> int:
    create_topics(settings.kafka, topic_specs(settings.topics))
    folder = movielens.ensure_ml100k(Path(settings.cache_dir) / "datasets")
    count = worker_count(settings)
    print(f"starting {count} worker process{'es' if count > 1 else ''} (one per core)")
    workers = start_workers(settings, count)
    reader = None if exit_after else start_reader(port)  # the page, live during the replay
    if reader is not None:
        print(f"live page: http://127.0.0.1:{port}/  (API docs: http://127.0.0.1:{port}/docs)")
    try:
        events = movielens.load_ratings(folder)
        client = sync_client(settings.redis)
        before = _applied(settings, client)
        started = time.perf_counter()
        with EventProducer(settings.kafka) as producer:
            for item in movielens.load_items(folder):
                producer.send_item(settings.topics.items, item)
            for event in tqdm(events, unit="ev", desc="produce ML-100K"):
                producer.send_rating(settings.topics.ratings, event)
        if not _follow_paths(settings, workers, client, len(events), started, before):
            return 1
        # the top-10 once the stale lists are done; the convergence sweep that follows
        # (every user refreshed once, ~10 s on ML-100K) goes on behind the printout
        wait_idle(settings, timeout=600, converged=False)
        seconds = time.perf_counter() - started
        print(f"replayed {len(events):,} events end to end in {seconds:.1f}s")
        print_top(client, user)
        if exit_after:
            return 0
        if reader is not None and reader.poll() is None:
            print(f"\nlive page: http://127.0.0.1:{port}/ : rate movies there, watch the lists")
        elif reader is not None:
            print(f"\nthe reader stopped (port {port} taken?): see .state/reader.log")
        print("the workers keep running; press Ctrl-C to stop")
        for worker in workers:
            worker.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if reader is not None:
            workers.append(reader)
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
