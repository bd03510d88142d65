"""The cost model per stage: the three engines driven in process (no Kafka, no Faust) over
an ML-100K prefix, with the wall time and the Redis commands (those inside scripts
included) of every stage, per event.

    .venv/bin/python -m bench.engines --limit 30000 [--batch 1000] [--redis URL]
    .venv/bin/python -m bench.engines --dataset synthetic --events 200000 --fan-out 50

Batches are cut as the worker cuts them under backlog (``--batch`` events, split by the
partition of their key: item for the user-based path, user for the others); after each
batch the refresher takes ``STREAMREC_REFRESH__BUDGET`` stale users (one round), and the
stale backlog left at the end is drained apart. The Redis database is flushed
first and its server's command counts are read around each stage: give it a Redis no
one else uses (the counts are server-wide).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import zlib
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from streams.datasets import movielens, synthetic
from streams.engines.hybrid import HybridEngine
from streams.engines.itemcf import ItemEngine, UserEvent, UserPortion
from streams.engines.usercf import ByItemEvent, Engine, Portion
from streams.settings import RedisConnection, WorkerSettings
from streams.state.connection import connect
from streams.state.hybrid import HybridStore
from streams.state.itemcf import ItemStore
from streams.state.usercf import Store


def partition(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode()) % partitions


class Meter:
    """Seconds and Redis commands per stage (INFO commandstats, minus the INFO calls)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.seconds: dict[str, float] = defaultdict(float)
        self.commands: dict[str, int] = defaultdict(int)

    async def calls(self) -> int:
        stats = await self.client.info("commandstats")
        return sum(int(v["calls"]) for v in stats.values())

    async def run(self, stage: str, work: Any) -> Any:
        before = await self.calls()
        started = time.perf_counter()
        out = await work
        self.seconds[stage] += time.perf_counter() - started
        self.commands[stage] += await self.calls() - before - 1  # the INFO itself
        return out


async def refresh_some(store: Store, engine: Engine, budget: int) -> None:
    users = await store.pop_stale(budget)
    if users:
        await engine.refresh(users)


def load_events(settings: WorkerSettings, dataset: str, size: int, items: int) -> list[Any]:
    """ML-100K, or the synthetic stream of ``bench.replay`` (50,000 users, 10,000 items
    unless told)."""
    if dataset == "synthetic":
        spec = synthetic.SyntheticSpec(events=size, users=50_000, items=items)
        return list(synthetic.generate(spec))
    return movielens.load_ratings(movielens.ensure_ml100k(Path(settings.cache_dir) / "datasets"))


async def replay(
    limit: int,
    batch: int,
    url: str,
    dataset: str = "ml-100k",
    size: int = 0,
    fan_out: int = 0,
    items: int = 10_000,
) -> dict[str, Any]:
    base = WorkerSettings(redis=RedisConnection(url=url))
    settings = base.model_copy(update={"user_cf": replace(base.user_cf, fan_out_cap=fan_out)})
    partitions = settings.topics.ratings_partitions
    events = load_events(settings, dataset, size, items)
    events = events[:limit] if limit else events
    client = connect(url)
    await client.flushdb()
    store = Store(client)
    user_cf = Engine(store, settings.user_cf)
    item_cf = ItemEngine(
        ItemStore(client), store, settings.item_cf, settings.item_cf.similar_every_s
    )
    hybrid = HybridEngine(
        HybridStore(client),
        store,
        settings.content,
        settings.embedding,
        settings.embedding.kind == "neural",
        settings.embedding.topn_size,
        settings.embedding.similar_every_s,
    )
    meter = Meter(client)
    by_item_offset = [0] * partitions
    by_user_offset = [0] * partitions
    for name in ("by-item", "ratings#item", "ratings#hybrid"):  # this process owns them all
        for p in range(partitions):
            await store.claim(name, p)
    started = time.perf_counter()
    for lo in range(0, len(events), batch):
        chunk = events[lo : lo + batch]
        now = time.time()
        by_item: dict[int, list[ByItemEvent]] = defaultdict(list)
        by_user: dict[int, list[UserEvent]] = defaultdict(list)
        for e in chunk:
            p = partition(e.user_id, partitions)
            offset = by_user_offset[p]
            by_user_offset[p] += 1
            by_user[p].append(UserEvent(e.user_id, e.item_id, e.rating, offset, now))
            q = partition(e.item_id, partitions)
            by_item[q].append(ByItemEvent(e.user_id, e.item_id, e.rating, offset, e.ts, now))
        portions = []
        for q, units in sorted(by_item.items()):
            by_item_offset[q] += len(units)
            portions.append(Portion(q, by_item_offset[q] - 1, units))
        ends = {p.partition: p.end for p in portions}
        await meter.run("user-cf progress", store.begin("by-item", ends))
        result = await meter.run("user-cf apply", user_cf.apply_batch(portions))
        await meter.run("user-cf progress", store.commit("by-item", ends))
        await meter.run("user-cf lists", user_cf.finish(result))
        await meter.run("user-cf refresher", refresh_some(store, user_cf, settings.refresh.budget))
        mine = [UserPortion(p, units[-1].offset, units) for p, units in sorted(by_user.items())]
        done = await meter.run("item-cf apply", item_cf.apply_batch("ratings#item", mine, {}))
        await meter.run("item-cf lists", item_cf.finish(done))
        mixed = await meter.run("hybrid apply", hybrid.apply_batch("ratings#hybrid", mine, {}))
        await meter.run("hybrid lists", hybrid.finish(mixed))
        for paced in (item_cf, hybrid):  # the worker's timer, between batches
            await meter.run("similar timer", paced.rescore_due(quiet=False))
    total = time.perf_counter() - started
    while stale := await store.pop_stale(settings.refresh.budget):  # what a quiet worker drains
        await meter.run("stale drain", user_cf.refresh(stale))
    for paced in (item_cf, hybrid):  # the similar lists their pace put off: a quiet worker's
        await meter.run("similar drain", paced.rescore_due(quiet=True))
    await client.aclose()
    n = len(events)
    stages = {
        stage: {
            "us_per_event": 1e6 * meter.seconds[stage] / n,
            "commands_per_event": meter.commands[stage] / n,
        }
        for stage in meter.seconds
    }
    return {
        "events": n,
        "batch": batch,
        "events_per_s": n / total,
        "us_per_event": 1e6 * total / n,
        "commands_per_event": sum(meter.commands[s] for s in meter.commands if s != "stale drain")
        / n,
        "stages": stages,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=["ml-100k", "synthetic"], default="ml-100k")
    parser.add_argument("--events", type=int, default=100_000, help="synthetic stream size")
    parser.add_argument("--items", type=int, default=10_000, help="synthetic items")
    parser.add_argument("--fan-out", type=int, default=0, help="fMax, 0 = exact")
    parser.add_argument("--limit", type=int, default=30_000, help="0 = the whole stream")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--json", action="store_true", help="one JSON line, nothing else")
    args = parser.parse_args()
    out = asyncio.run(
        replay(
            args.limit, args.batch, args.redis, args.dataset, args.events, args.fan_out, args.items
        )
    )
    if args.json:
        print(json.dumps(out))
        return
    print(f"{out['events']} events, batches of {out['batch']}: {out['events_per_s']:.0f} events/s")
    print(f"{'stage':<20} {'µs/event':>10} {'commands/event':>15}")
    for stage, s in out["stages"].items():
        print(f"{stage:<20} {s['us_per_event']:>10.1f} {s['commands_per_event']:>15.1f}")
    print(f"{'total':<20} {out['us_per_event']:>10.1f} {out['commands_per_event']:>15.1f}")


if __name__ == "__main__":
    main()
