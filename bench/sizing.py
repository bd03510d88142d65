"""Redis memory per user, per pair and per event, measured on synthetic streams of growing
size with the shape of the issue's 10M-event run (10 events per user, 10 users per item,
Zipf users and items) and the caps a deployment ships with (compose and the chart), then
extrapolated to that run: what a deployment needs per million users (docs/deploy.md).

    .venv/bin/python -m bench.sizing --events 50000,100000,200000

Each size is replayed end to end (Kafka, one worker with its lists process, served lists
on) into a scratch database; then every key is sized (``MEMORY USAGE``, all samples) and
filed by family (the part after its hash tag: ``user pairs``, ``item cooc``, ...). The
extrapolation is a straight line through the origin in events (the caps bound what one
event can add, so bytes per event must level off; the table shows whether they did),
fitted on the measured points and said to be one.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import redis

from bench.replay import one_run
from streams.datasets import synthetic
from streams.settings import WorkerSettings
from streams.state import keys

EVENTS_PER_USER = 10  # the run: 10,000,000 events over 1,000,000 users
USERS_PER_ITEM = 10  # ... and 100,000 items
TARGET_EVENTS = 10_000_000
_TAGGED = re.compile(r"^[^{]*\{(?P<kind>[a-z]+)(?::[^}]*)?\}:?(?P<part>.*)$")
_KIND = {"u": "user", "i": "item", "g": "global", "p": "progress"}


def family(key: bytes) -> str:
    """``sr:v1:{u:42}:pairs`` → ``user pairs``; ``sr:v1:{g}:means`` → ``global means``."""
    found = _TAGGED.match(key.decode(errors="replace"))
    if found is None:
        return "other"
    kind = _KIND.get(found["kind"], found["kind"])
    part = "" if kind == "progress" else found["part"]
    return f"{kind} {part}".strip()


def sized(client: redis.Redis) -> dict[str, dict[str, int]]:
    """Bytes and keys per family, and the stored pair entries (both sides of each pair)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"bytes": 0, "keys": 0})
    pairs = 0
    for key in client.scan_iter(count=2000):
        name = family(key)
        out[name]["bytes"] += int(client.memory_usage(key, samples=0) or 0)  # type: ignore[arg-type]
        out[name]["keys"] += 1
        if name == "user pairs":
            pairs += int(client.hlen(key))
    out["(pair entries)"] = {"bytes": 0, "keys": pairs}
    return dict(out)


def measure(events: int, base: WorkerSettings) -> dict[str, object]:
    users, items = events // EVENTS_PER_USER, events // (EVENTS_PER_USER * USERS_PER_ITEM)
    spec = synthetic.SyntheticSpec(events=events, users=users, items=items)
    stream = list(synthetic.generate(spec))
    started = time.perf_counter()
    run = one_run(stream, base, base.user_cf.fan_out_cap, rate=0)
    client = redis.Redis.from_url(base.redis.url.rsplit("/", 1)[0] + "/5")  # one_run's
    families = sized(client)
    total = sum(f["bytes"] for name, f in families.items() if not name.startswith("("))
    return {
        "events": events, "users": users, "items": items,
        "users_seen": int(client.hlen(keys.user_means())),
        "events_per_s": run["events_per_s"], "wall_s": time.perf_counter() - started,
        "bytes": total, "families": families,
    }  # fmt: skip


def report(rows: list[dict]) -> str:
    """The markdown table: bytes per event and per user by family, and the fit."""
    names = sorted(
        {n for r in rows for n in r["families"] if not n.startswith("(")},
        key=lambda n: -rows[-1]["families"].get(n, {"bytes": 0})["bytes"],
    )
    head = "| family | " + " | ".join(f"B/event at {r['events']:,}" for r in rows) + " |"
    lines = [head, "|---" * (len(rows) + 1) + "|"]
    for name in names:
        cells = [r["families"].get(name, {"bytes": 0})["bytes"] / r["events"] for r in rows]
        if max(cells) >= 1:
            lines.append(f"| {name} | " + " | ".join(f"{c:,.0f}" for c in cells) + " |")
    totals = " | ".join(f"**{r['bytes'] / r['events']:,.0f}**" for r in rows)
    lines.append(f"| **all** | {totals} |")
    slope = fit(rows)
    pairs = [r["families"]["(pair entries)"]["keys"] for r in rows]
    pair_bytes = [r["families"].get("user pairs", {"bytes": 0})["bytes"] for r in rows]
    lines += [
        "",
        "| at | users seen | pair entries | B per pair entry | B per user seen | events/s |",
        "|---|---|---|---|---|---|",
    ]
    for r, p, pb in zip(rows, pairs, pair_bytes, strict=True):
        lines.append(
            f"| {r['events']:,} events | {r['users_seen']:,} | {p:,} | {pb / max(p, 1):,.0f} "
            f"| {r['bytes'] / max(r['users_seen'], 1):,.0f} | {r['events_per_s']:,.0f} |"
        )
    low, trend, bound = projections(rows)
    users = TARGET_EVENTS // EVENTS_PER_USER
    lines += [
        "",
        f"At {TARGET_EVENTS:,} events ({users:,} users), extrapolated, not measured: "
        f"{low / 2**30:,.1f} GiB if bytes per event stopped growing now (the fit through "
        f"the origin: {slope:,.0f} B/event); **{trend / 2**30:,.1f} GiB** if they go on "
        f"growing per doubling as measured; at most {bound / 2**30:,.1f} GiB by the fan-out "
        "cap (2F pair entries per event).",
    ]
    return "\n".join(lines)


def projections(rows: list[dict], fan_out: int = 50) -> tuple[float, float, float]:
    """Bytes at ``TARGET_EVENTS``: (bytes per event of the largest run, the per-doubling
    trend of bytes per event, the caps' bound). The pair sums are what grows: each event
    adds at most ``2·fan_out`` pair entries (docs/hot-items.md), each as large as at the
    largest run; everything else is taken at its largest run's bytes per event."""
    last = rows[-1]
    per_event = last["bytes"] / last["events"]
    x = np.log2([r["events"] for r in rows])
    y = np.array([r["bytes"] / r["events"] for r in rows])
    slope, intercept = np.polyfit(x, y, 1) if len(rows) > 1 else (0.0, per_event)
    entries = last["families"]["(pair entries)"]["keys"]
    pair_bytes = last["families"].get("user pairs", {"bytes": 0})["bytes"]
    per_entry = pair_bytes / max(entries, 1)
    others = (last["bytes"] - pair_bytes) / last["events"]
    bound = (others + 2 * fan_out * per_entry) * TARGET_EVENTS
    trend = min(float(intercept + slope * np.log2(TARGET_EVENTS)) * TARGET_EVENTS, bound)
    return per_event * TARGET_EVENTS, trend, bound


def fit(rows: list[dict]) -> float:
    x = np.array([r["events"] for r in rows], float)
    y = np.array([r["bytes"] for r in rows], float)
    return float(x @ y / (x @ x))


def draw(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array([r["events"] for r in rows], float)
    pairs = [r["families"].get("user pairs", {"bytes": 0})["bytes"] / r["events"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(x, [r["bytes"] / r["events"] for r in rows], "o-", label="all keys, measured")
    ax.plot(x, pairs, "s-", label="user pair sums, measured")
    _low, trend, bound = projections(rows)
    ax.plot([x[-1], TARGET_EVENTS], [rows[-1]["bytes"] / x[-1], trend / TARGET_EVENTS], ":",
            label="per-doubling trend (extrapolated)")  # fmt: skip
    ax.axhline(bound / TARGET_EVENTS, color="grey", ls="--", label="bound by the fan-out cap")
    ax.set_xscale("log")
    ax.set_xlabel("events (10 per user, 10 users per item)")
    ax.set_ylabel("Redis bytes per event")
    ax.set_title("Redis memory per event, caps as shipped")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", default="50000,100000,200000", help="sizes, comma-separated")
    parser.add_argument("--report", help="redraw and print a saved sizing-*.json, no run")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        draw(saved, Path(args.report).with_suffix(".png"))
        print(report(saved))
        return
    settings = WorkerSettings()
    base = settings.model_copy(
        update={
            "user_cf": replace(settings.user_cf, fan_out_cap=50, history_cap=1000),
            "item_cf": replace(settings.item_cf, kmax=100, fmax=1000),
        }
    )
    rows = []
    for n in (int(v) for v in args.events.split(",")):
        rows.append(measure(n, base))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "families"}), flush=True)
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"sizing-{stamp}.json").write_text(json.dumps(rows, indent=2))
    draw(rows, out / f"sizing-{stamp}.png")
    print(report(rows))


if __name__ == "__main__":
    main()
