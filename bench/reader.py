"""Reader throughput and latency with wrk, next to a trivial route, in one run, with the
requests rotating over many users as real traffic does (one user asked again and again
measures a cache, not the reader).

Needs a Redis holding the engine's state (run `make demo` first) and Debian's `wrk`.

    .venv/bin/python -m bench.reader [--users 943] [--unknown 0.1] [--seconds 10]
        [--connections 16] [--runs 3] [--reader-workers 1]

Each round measures every route at full load (``--connections``) and on one connection;
the figures are medians over ``--runs`` rounds, the ratio taken within each round.
``/predict`` asks for the item with the most raters, rotating over the users. Results go
to bench/results/reader-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from app.settings import ReaderSettings
from streams.state import keys
from tests.conftest import free_port

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
ROTATE = """
local paths = {%s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
"""


def parse_wrk(output: str) -> dict[str, float]:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    out = {"requests_per_s": rate}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        out[f"p{pct}_ms"] = float(value) * UNITS[unit] * 1000
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    out["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return out


def wrk(base: str, paths: list[str], seconds: int, connections: int) -> dict[str, float]:
    """wrk on one thread, each connection cycling through ``paths`` (a Lua script)."""
    quoted = ",".join(json.dumps(p) for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(ROTATE % quoted)
    try:
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
               "-s", script.name, base + paths[0]]  # fmt: skip
        return parse_wrk(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    finally:
        os.unlink(script.name)


@contextlib.contextmanager
def running_reader(workers: int = 1, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """A ``streamrec reader`` process on a free port; yields its base URL once healthy."""
    port = free_port()
    env = {**os.environ, **(extra_env or {}), "STREAMREC_READER_PORT": str(port),
           "STREAMREC_READER_WORKERS": str(workers)}  # fmt: skip
    reader = subprocess.Popen([sys.executable, "-m", "streams.cli", "reader"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0 if workers > 1 else 0.0)  # every worker process up
        yield base
    finally:
        reader.terminate()
        reader.wait(timeout=30)


def route_paths(
    users: int, unknown: float, seed: int = 7, redis_url: str | None = None
) -> dict[str, list[str]]:
    """Each measured route's rotation: known users from Redis (shuffled), a share of ids
    nobody knows, and for /predict the item with the most raters."""
    settings = ReaderSettings()
    url = redis_url or settings.redis.url
    client: Any = redis.Redis.from_url(url, **settings.redis.client_kwargs())
    known = sorted(u.decode() for u in client.hkeys(keys.user_means()))
    assert len(known) >= 2, "no users in Redis: fill it first (make demo)"
    rng = random.Random(seed)
    picked = rng.sample(known, min(users, len(known)))
    strangers = [f"newcomer-{k}" for k in range(round(len(picked) * unknown))]
    rotation = picked + strangers
    rng.shuffle(rotation)
    popular = client.zrevrange(keys.popular(), 0, 50)
    hottest = max(popular, key=lambda i: client.hlen(keys.item_raters(i.decode()))).decode()
    quote = urllib.parse.quote
    return {
        "trivial": ["/healthz"],
        "recommendations": [f"/v1/users/{quote(u)}/recommendations?n=10" for u in rotation],
        "predict": [f"/v1/users/{quote(u)}/predict/{quote(hottest)}" for u in picked],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=943, help="known users rotated over")
    parser.add_argument("--unknown", type=float, default=0.1, help="share of unknown ids")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reader-workers", type=int, default=1)
    args = parser.parse_args()
    routes = route_paths(args.users, args.unknown)
    rounds: list[dict[str, dict[str, dict[str, float]]]] = []
    with running_reader(args.reader_workers) as base:
        for path in routes["recommendations"][:50]:  # the route works before it is timed
            with urllib.request.urlopen(base + path) as answer:
                assert answer.status == 200
        for run in range(args.runs):
            measured: dict[str, dict[str, dict[str, float]]] = {}
            for name, paths in routes.items():
                measured[name] = {
                    "full_load": wrk(base, paths, args.seconds, args.connections),
                    "one_connection": wrk(base, paths, args.seconds, 1),
                }
                print(f"run {run + 1} {name}", json.dumps(measured[name]), flush=True)
            rounds.append(measured)
    results: dict[str, object] = {
        "users": len(routes["predict"]),
        "unknown_ids": len(routes["recommendations"]) - len(routes["predict"]),
        "reader_workers": args.reader_workers,
        "connections": args.connections,
        "rounds": rounds,
    }
    for name in routes:
        for load in ("full_load", "one_connection"):
            for measure in ("requests_per_s", "p50_ms", "p99_ms", "non_2xx"):
                values = [r[name][load][measure] for r in rounds]
                results[f"{name}_{load}_{measure}"] = statistics.median(values)
    ratio = [r["recommendations"]["full_load"]["requests_per_s"]
             / r["trivial"]["full_load"]["requests_per_s"] for r in rounds]  # fmt: skip
    p99 = [r["recommendations"]["one_connection"]["p99_ms"]
           / r["trivial"]["one_connection"]["p99_ms"] for r in rounds]  # fmt: skip
    results["ratio_recommendations_to_trivial"] = statistics.median(ratio)
    results["p99_one_connection_recommendations_over_trivial"] = statistics.median(p99)
    print(json.dumps({k: v for k, v in results.items() if k != "rounds"}, indent=1))
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    written = out / f"reader-{time.strftime('%Y%m%d-%H%M%S')}.json"
    written.write_text(json.dumps(results, indent=2))
    print(f"wrote {written}")


if __name__ == "__main__":
    main()
