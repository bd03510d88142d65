"""``streamrec demo``: the real thing on one machine — worker, MovieLens-100K replay, a top-10."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from tqdm import tqdm

from streams.algo import blend
from streams.commands.wait_idle import lag, wait_idle
from streams.datasets import movielens
from streams.producer import EventProducer
from streams.settings import WorkerSettings
from streams.state import keys
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


def run(settings: WorkerSettings, user: str, exit_after: bool) -> int:
    create_topics(settings.kafka, topic_specs(settings.topics))
    folder = movielens.ensure_ml100k(Path(settings.cache_dir) / "datasets")
    worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"])
    try:
        events = movielens.load_ratings(folder)
        started = time.perf_counter()
        with EventProducer(settings.kafka) as producer:
            for item in movielens.load_items(folder):
                producer.send_item(settings.topics.items, item)
            for event in tqdm(events, unit="ev", desc="produce ML-100K"):
                producer.send_rating(settings.topics.ratings, event)
        bar = tqdm(total=len(events), unit="ev", desc="worker applies")
        while (backlog := lag(settings)) > 0 or bar.n == 0:
            bar.n = max(0, len(events) - backlog // 2)
            bar.refresh()
            if worker.poll() is not None:
                print("worker exited", file=sys.stderr)
                return 1
            time.sleep(1)
        bar.n = len(events)
        bar.close()
        wait_idle(settings, timeout=600)
        seconds = time.perf_counter() - started
        print(f"replayed {len(events):,} events end to end in {seconds:.1f}s")
        print_top(redis.Redis.from_url(settings.redis.url, **settings.redis.client_kwargs()), user)
        if exit_after:
            return 0
        print("\nworker keeps serving; produce more events or press Ctrl-C to stop")
        worker.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=30)
