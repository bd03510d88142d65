"""``streamrec bench``: every speed number side by side, in one run on this machine.

    .venv/bin/streamrec bench [--events 30000] [--rates 250,500,1000] [--seconds 10]

1. ingest throughput on an ML-100K prefix: the worker exact (user-based only, + item-to-
   item, + the hybrid path = all, the default), with the fan-out cap, with two worker
   processes, and the floor (a do-nothing Faust agent on the same topic);
2. event-to-list freshness p50/p95/p99 at fixed rates, and whether the worker kept up;
3. Redis commands, memory and bytes per event and per user;
4. reader requests/s and latency next to the trivial route (on the state of run 1);
5. the per-event cost of a naive baseline that recomputes a user's similarities from
   scratch, next to the incremental engine's.

Writes bench/results/bench-<time>/{bench.json, bench.md, bench.png}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.reader import route_paths, running_reader, wrk
from bench.replay import one_run
from streams.datasets import movielens
from streams.settings import WorkerSettings


def machine() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "commit": commit.stdout.strip(),
    }


def naive_cost(events: list, users: int = 200) -> float:
    """Seconds per event to recompute one user's Pearson similarities with everyone from
    the full rating matrix (what a system without incremental sums does per event)."""
    ids = {u: k for k, u in enumerate(sorted({e.user_id for e in events}))}
    items = {i: k for k, i in enumerate(sorted({e.item_id for e in events}))}
    ratings = np.full((len(ids), len(items)), np.nan)
    for e in events:
        ratings[ids[e.user_id], items[e.item_id]] = e.rating
    rng = np.random.default_rng(0)
    picked = rng.choice(len(ids), size=min(users, len(ids)), replace=False)
    started = time.perf_counter()
    mask = ~np.isnan(ratings)
    filled = np.nan_to_num(ratings)
    means = filled.sum(1) / np.maximum(mask.sum(1), 1)
    for u in picked:
        both = mask[u] & mask  # co-rated items with every other user
        du = np.where(both, filled[u] - means[u], 0.0)
        dv = np.where(both, filled - means[:, None], 0.0)
        num = (du * dv).sum(1)
        den = np.sqrt((du**2).sum(1) * (dv**2).sum(1))
        np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return (time.perf_counter() - started) / len(picked)


def reader_bench(redis_url: str, seconds: int) -> dict[str, Any]:
    """Recommendations rotating over every known user and some unknown ids, next to
    /healthz (bench.reader has the full comparison)."""
    paths = route_paths(10_000, 0.1, redis_url=redis_url)
    with running_reader(1, {"STREAMREC_REDIS__URL": redis_url}) as base:
        routes = {"trivial": paths["trivial"], "recommendations": paths["recommendations"]}
        out: dict[str, Any] = {name: wrk(base, ps, seconds, 16) for name, ps in routes.items()}
    out["ratio"] = out["recommendations"]["requests_per_s"] / out["trivial"]["requests_per_s"]
    return out


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"# streamrec bench, {m['date']}, commit {m['commit']}",
        "",
        f"{m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}; "
        f"ML-100K prefix of {result['events']:,} events, timestamp order.",
        "",
        "## Ingest throughput (producer → Kafka → worker → Redis, until the group is drained)",
        "",
        "| configuration | events/s | seconds | Redis cmds/event | Redis MB |",
        "|---|---|---|---|---|",
    ]
    for name, run in result["throughput"].items():
        cmds = run.get("redis_commands_per_event")
        mem = run.get("redis_used_memory_bytes")
        lines.append(
            f"| {name} | {run['events_per_s']:,.0f} | {run['event_path_s']:.1f} | "
            f"{'—' if cmds is None else f'{cmds:.0f}'} | "
            f"{'—' if mem is None else f'{mem / 2**20:.1f}'} |"
        )
    lines += [
        "",
        "## Freshness (produce time → the acting user's lists written), paced",
        "",
        "| rate (events/s) | sustained | kept up | user-cf p50 / p95 / p99 s "
        "| item-cf p50 / p95 / p99 s | content+embedding p50 / p95 / p99 s |",
        "|---|---|---|---|---|---|",
    ]
    for rate, run in result["freshness"].items():
        q = [run.get(f"freshness_p{p}_s", float("nan")) for p in (50, 95, 99)]
        qi = [run.get(f"item_freshness_p{p}_s", float("nan")) for p in (50, 95, 99)]
        qh = [run.get(f"hybrid_freshness_p{p}_s", float("nan")) for p in (50, 95, 99)]
        lines.append(
            f"| {rate} | {run['events_per_s']:,.0f} | {'yes' if run['kept_up'] else 'no'} | "
            + " | ".join(" / ".join(f"{v:.3f}" for v in part) for part in (q, qi, qh))
            + " |"
        )
    r = result["reader"]
    s = result["storage"]
    naive = result["naive"]
    lines += [
        "",
        "## Redis (exact run, all paths)",
        "",
        f"- {s['commands_per_event']:.0f} commands and "
        f"{s['network_bytes_per_event']:,.0f} bytes of network traffic per event, "
        f"{s['memory_per_event_bytes']:,.0f} bytes of memory per event, "
        f"{s['memory_per_user_bytes'] / 1024:,.1f} KiB per user ({s['users']:,.0f} users)",
        "",
        "## Reader (wrk, 16 connections, state of the exact run)",
        "",
        "| route | requests/s | p50 ms | p99 ms |",
        "|---|---|---|---|",
        *(
            f"| {label} | {r[key]['requests_per_s']:,.0f} | {r[key]['p50_ms']:.2f} "
            f"| {r[key]['p99_ms']:.2f} |"
            for key, label in (("trivial", "/healthz (floor)"), ("recommendations", "recs"))
        ),
        "",
        f"Ratio recommendations / floor: {r['ratio']:.2f}.",
        "",
        "## Naive baseline",
        "",
        "Recomputing one user's similarities from scratch: "
        f"{naive['seconds_per_event'] * 1000:.2f} ms per event (numpy, dense matrix of the "
        f"prefix), against {naive['incremental_seconds_per_event'] * 1000:.2f} ms per event "
        "for the whole incremental pipeline (exact run, 1 / events/s).",
    ]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(result["throughput"])
    left.barh(names, [result["throughput"][n]["events_per_s"] for n in names])
    left.set_xlabel("events/s")
    left.set_title("Ingest throughput")
    rates = [int(r) for r in result["freshness"]]
    pairs = (
        ("freshness", "user-cf"),
        ("item_freshness", "item-cf"),
        ("hybrid_freshness", "hybrid"),
    )
    for key, label in pairs:
        for p in (50, 99):
            ys = [result["freshness"][str(r)].get(f"{key}_p{p}_s", np.nan) for r in rates]
            right.plot(rates, ys, marker="o", label=f"{label} p{p}")
    right.set_xlabel("offered events/s")
    right.set_ylabel("seconds")
    right.set_yscale("log")
    right.set_title("Event → list freshness")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=30_000, help="ML-100K prefix")
    parser.add_argument("--rates", default="250,500,1000")
    parser.add_argument("--rate-events", type=int, default=10_000, help="events per rate")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per route")
    parser.add_argument("--fan-out", type=int, default=50)
    args = parser.parse_args()
    base = WorkerSettings()
    events = movielens.load_ratings(movielens.ensure_ml100k(Path(base.cache_dir) / "datasets"))
    prefix = events[: args.events]
    configs = {
        "floor (do-nothing Faust agent)": dict(floor=True),
        "exact, user-based only": dict(item_cf=False, hybrid=False),
        f"exact + fan-out cap {args.fan_out}, user-based only": dict(
            item_cf=False, hybrid=False, fan_out=args.fan_out
        ),
        "exact + item-to-item, hybrid off": dict(hybrid=False),
        "exact, all paths, 2 workers": dict(workers=2),
        "exact, all paths (default)": dict(),
    }
    throughput = {}
    for name, kw in tqdm(configs.items(), desc="throughput", unit="run"):
        fan_out = int(kw.pop("fan_out", 0))
        throughput[name] = one_run(prefix, base, fan_out, 0, **kw)
    exact = throughput["exact, all paths (default)"]
    url = base.redis.url.rsplit("/", 1)[0] + "/5"
    reader = reader_bench(url, args.seconds)  # on the default run's state, still in db 5
    freshness = {}
    for rate in tqdm([int(r) for r in args.rates.split(",")], desc="freshness", unit="rate"):
        run = one_run(events[: args.rate_events], base, 0, rate)
        run["kept_up"] = run["events_per_s"] >= 0.95 * rate
        freshness[str(rate)] = run
    result = {
        "machine": machine(),
        "events": len(prefix),
        "throughput": throughput,
        "freshness": freshness,
        "reader": reader,
        "storage": {
            "commands_per_event": exact["redis_commands_per_event"],
            "network_bytes_per_event": exact.get("redis_bytes_per_event", float("nan")),
            "memory_per_event_bytes": exact["redis_used_memory_bytes"] / len(prefix),
            "memory_per_user_bytes": exact["redis_used_memory_bytes"] / max(exact["users"], 1),
            "users": exact["users"],
        },
        "naive": {
            "seconds_per_event": naive_cost(prefix),
            "incremental_seconds_per_event": 1 / exact["events_per_s"],
        },
    }
    folder = Path("bench/results") / time.strftime("bench-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.json").write_text(json.dumps(result, indent=2))
    (folder / "bench.md").write_text(markdown(result))
    plot(result, folder / "bench.png")
    print(markdown(result))
    print(f"wrote {folder}/bench.json, bench.md, bench.png")


if __name__ == "__main__":
    main()
