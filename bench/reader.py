"""Reader throughput and latency with wrk, next to a trivial route, in one run.

Needs a Redis holding the engine's state (run `make demo` first) and Debian's `wrk`.

    .venv/bin/python -m bench.reader [--user 196] [--seconds 10] [--connections 16]

Each route is measured at full load (``--connections``) and at light load (1
connection); results go to bench/results/reader-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import free_port

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_wrk(output: str) -> dict[str, float]:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    out = {"requests_per_s": rate}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        out[f"p{pct}_ms"] = float(value) * UNITS[unit] * 1000
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    out["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return out


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    return parse_wrk(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


@contextlib.contextmanager
def running_reader(extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """A ``streamrec reader`` process on a free port; yields its base URL once healthy."""
    port = free_port()
    env = {**os.environ, **(extra_env or {}), "STREAMREC_READER_PORT": str(port)}
    reader = subprocess.Popen([sys.executable, "-m", "streams.cli", "reader"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        reader.terminate()
        reader.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--user", default="196")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    with running_reader() as base:
        routes = {
            "trivial": "/healthz",
            "recommendations": f"/v1/users/{args.user}/recommendations?n=10",
        }
        body = json.loads(urllib.request.urlopen(base + routes["recommendations"]).read())
        assert body["items"], "no recommendations: fill Redis first (make demo)"
        results = {}
        for name, path in routes.items():
            results[name] = {
                "full_load": wrk(base + path, args.seconds, args.connections),
                "light_load": wrk(base + path, args.seconds, 1),
            }
            print(name, json.dumps(results[name]), flush=True)
        ratio = (
            results["recommendations"]["full_load"]["requests_per_s"]
            / results["trivial"]["full_load"]["requests_per_s"]
        )
        results["ratio_recommendations_to_trivial"] = ratio
        print(f"recommendations / trivial requests/s: {ratio:.2f}")
        out = Path("bench/results")
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"reader-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(results, indent=2))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
