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

from streams.algo import blend
from streams.commands.wait_idle import wait_idle
from streams.datasets import movielens
from streams.producer import EventProducer
from streams.settings import WorkerSettings
from streams.state import keys, watch
from streams.topics import create_topics, topic_specs


def _title(client: redis.Redis, item: str) -> tuple[str, str]:
    meta: Any = client.hgetall(keys.item_meta(item))
    genres = ", ".join(json.loads(meta.get(b"attributes", b"{}")).get("genres", []))
    return meta.get(b"title", item.encode()).decode(), genres


def print_top(client: redis.Redis, user: str, n: int = 10) -> None:
    """The served list, fused as the reader fuses it, with each item's reason."""
    depth = blend.DEPTH
    stored = {
        "user-cf": keys.user_topn(user),
        "item-cf": keys.user_item_topn(user),
        "content": keys.user_content_topn(user),
        "embedding": keys.user_embedding_topn(user),
    }
    lists = {}
    for source, key in stored.items():
        ranked: Any = client.zrevrange(key, 0, depth - 1, withscores=True)
        lists[source] = [(i.decode(), s) for i, s in ranked]
    reasons: Any = client.hgetall(keys.user_item_reasons(user))
    whys = {
        "user-cf": "users like you rated it highly",
        "content": "its genres, year and title match what you liked",
        "embedding": "the model learned from everyone's ratings expects you to like it",
    }
    print(f"\nTop-{n} for user {user} (title, genres, why):")
    for rank, (item, _score, sources) in enumerate(
        blend.fuse(lists, blend.DEFAULT_WEIGHTS, n), start=1
    ):
        title, genres = _title(client, item)
        if sources[0] == "item-cf":
            why = f"because you rated {_title(client, reasons[item.encode()].decode())[0]}"
        else:
            why = whys[sources[0]]
        print(f"  {rank:>2}. {title}  ({genres})  — {why}")


def _paths(settings: WorkerSettings) -> tuple[str, ...]:
    chosen = [watch.USER_BASED]
    if settings.item_cf:
        chosen.append(watch.ITEM_CF)
    if settings.hybrid:
        chosen.append(watch.HYBRID)
    return tuple(chosen)


def worker_count(settings: WorkerSettings) -> int:
    """One worker process per core this process may use (a Faust worker runs on one
    core; on 2 cores a second one measured 1.4x the events/s on ML-100K), at most one
    per partition."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, settings.topics.ratings_partitions))


def start_workers(settings: WorkerSettings, count: int) -> list[subprocess.Popen]:
    """``count`` workers in one consumer group: each its own metrics port and data dir."""
    workers = []
    for k in range(count):
        env = dict(os.environ)
        if k:
            env["STREAMREC_METRICS_PORT"] = str(settings.metrics_port + k)
            env["STREAMREC_DATA_DIR"] = f"{settings.data_dir}-{k}"
        workers.append(subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env))
    return workers


def _follow_paths(
    settings: WorkerSettings, workers: list[subprocess.Popen], total: int, started: float
) -> bool:
    """One bar per path, each from that path's own fences, until every path has applied
    every event; then a line per path with the second it finished."""
    client = redis.Redis.from_url(settings.redis.url, **settings.redis.client_kwargs())
    paths = _paths(settings)
    bars = {
        p: tqdm(total=total, unit="ev", desc=f"{p:>17}", position=k) for k, p in enumerate(paths)
    }
    finished: dict[str, float] = {}
    while len(finished) < len(paths):
        if any(worker.poll() is not None for worker in workers):
            print("a worker exited", file=sys.stderr)
            return False
        partitions = settings.topics.ratings_partitions
        for progress in watch.path_progress(
            client, settings.topics.ratings, settings.by_item_topic, partitions, paths
        ):
            bar = bars[progress.path]
            bar.n = min(total, progress.applied)
            bar.refresh()
            if bar.n >= total and progress.path not in finished:
                finished[progress.path] = time.perf_counter() - started
        time.sleep(0.5)
    for bar in bars.values():
        bar.close()
    for path, seconds in finished.items():
        print(f"  {path}: every event applied {seconds:.1f}s after the replay started")
    return True


def run(settings: WorkerSettings, user: str, exit_after: bool) -> int:
    create_topics(settings.kafka, topic_specs(settings.topics))
    folder = movielens.ensure_ml100k(Path(settings.cache_dir) / "datasets")
    count = worker_count(settings)
    print(f"starting {count} worker process{'es' if count > 1 else ''} (one per core)")
    workers = start_workers(settings, count)
    try:
        events = movielens.load_ratings(folder)
        started = time.perf_counter()
        with EventProducer(settings.kafka) as producer:
            for item in movielens.load_items(folder):
                producer.send_item(settings.topics.items, item)
            for event in tqdm(events, unit="ev", desc="produce ML-100K"):
                producer.send_rating(settings.topics.ratings, event)
        if not _follow_paths(settings, workers, len(events), started):
            return 1
        wait_idle(settings, timeout=600)
        seconds = time.perf_counter() - started
        print(f"replayed {len(events):,} events end to end in {seconds:.1f}s")
        print_top(redis.Redis.from_url(settings.redis.url, **settings.redis.client_kwargs()), user)
        if exit_after:
            return 0
        print("\nthe workers keep serving; produce more events or press Ctrl-C to stop")
        for worker in workers:
            worker.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
