"""Reading a worker's Prometheus endpoint in tests: one helper, not a parser per test."""

from __future__ import annotations

import urllib.request


def worker_metric(port: int, line_start: str, timeout: float = 5) -> float:
    """The sum of the samples on ``/metrics`` whose line starts with ``line_start`` (a
    name, or a name and labels), 0 when there is none."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout).read()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith(line_start)
    )
