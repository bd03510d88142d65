"""The worker's Prometheus metrics, in one place so names and labels stay consistent."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import MetricsHandler

disable_created_metrics()

EVENTS = Counter("streamrec_events_total", "Rating events consumed, by outcome.", ["outcome"])
DEAD_LETTERS = Counter(
    "streamrec_dead_letters_total", "Events sent to the dead-letter topic, by reason.", ["reason"]
)
BATCH_SIZE = Histogram(
    "streamrec_batch_size_events",
    "Events per micro-batch.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000),
)
BATCH_SECONDS = Histogram(
    "streamrec_batch_apply_seconds",
    "Time to process one micro-batch, by stage.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
FRESHNESS_BUCKETS = (  # fine up to 5 s: quantiles are interpolated inside a bucket, and
    # a paced replay's p99 lay in one (2, 5] bucket, where 2.1 and 4.9 s read alike
    *(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75),
    *(1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 7.5, 10, 30, 60),
)
FRESHNESS = Histogram(
    "streamrec_freshness_seconds",
    "From an event's produce time to its user's user-based top-N being written.",
    buckets=FRESHNESS_BUCKETS,
)
ITEM_FRESHNESS = Histogram(
    "streamrec_item_freshness_seconds",
    "From an event's produce time to its user's item-to-item top-N being written.",
    buckets=FRESHNESS_BUCKETS,
)
HYBRID_FRESHNESS = Histogram(
    "streamrec_hybrid_freshness_seconds",
    "From an event's produce time to its user's content and embedding top-N being written.",
    buckets=FRESHNESS_BUCKETS,
)
SERVED_FRESHNESS = Histogram(
    "streamrec_served_freshness_seconds",
    "From the oldest change a fusion takes in (an event's produce time, or when a list went "
    "stale) to the user's served list being written.",
    buckets=FRESHNESS_BUCKETS,
)
SERVED_FUSED = Counter(
    "streamrec_served_fused_total",
    "Served lists fused, by cause (a source list changed, or the popular list did).",
    ["cause"],
)
LISTS_PROCESS_RESTARTS = Counter(
    "streamrec_lists_process_restarts_total",
    "Times the worker's list process (refresher, fuser) ended on its own and was started again.",
)
SERVED_DUE = Gauge("streamrec_served_due", "Users whose served list waits for the fuser.")
ITEM_ROWS = Counter(
    "streamrec_item_rows_total",
    "Co-occurrence rows re-scored, by source: the worker's proven copy, or read from Redis.",
    ["source"],
)
STALE_LISTS = Gauge("streamrec_stale_lists", "Users whose lists wait for the refresher.")
SIMILAR_OWED = Gauge(
    "streamrec_similar_owed",
    "Similar lists the pace put off (state=due) or took and has not written (state=taken).",
    ["kind", "state"],
)
REDIS_ERRORS = Counter("streamrec_redis_errors_total", "Redis calls that failed.", ["stage"])
OFFSET_HOLES = Counter(
    "streamrec_offset_holes_total",
    "Records a path never received between its fence and the next record it did: Kafka's "
    "committed offset passed records the path had not applied (they are lost to it). "
    "Always 0 unless exactly-once is broken; alert on any increase.",
    ["path"],
)
REWINDS = Counter(
    "streamrec_rewinds_total",
    "Partitions whose committed offset was set back to Redis's fences at an assignment: "
    "Redis had lost acknowledged writes (failover, restart without AOF, old snapshot) and "
    "the log replays them. Any increase deserves a look at Redis's persistence.",
    ["topic"],
)
REWOUND_RECORDS = Counter(
    "streamrec_rewound_records_total",
    "Records read again because Redis had lost their acknowledged writes.",
    ["topic"],
)
STALE_OWNER_REFUSALS = Counter(
    "streamrec_stale_owner_refusals_total",
    "Partitions whose batch begin or commit was refused: another worker claimed them since "
    "(this worker was paused past its session timeout); their records are left to it.",
    ["path"],
)
CONSUMER_LAG = Gauge(
    "streamrec_consumer_lag_records",
    "Records between a partition's end and what this worker has processed.",
    ["topic", "partition"],
)

# (topic, partition) -> last offset processed by this worker; agents update it. A topic
# read by several agents counts the slowest: ``path_processed`` holds, per path reading
# ``ratings`` directly (item-cf, hybrid), that path's own progress.
processed: dict[tuple[str, int], int] = {}
path_processed: dict[str, dict[tuple[str, int], int]] = {}


# --- liveness: the metrics server runs on a thread of its own, so answering /metrics
# proves nothing about the event loop. A task on the loop stamps a heartbeat; /livez
# answers 503 once the stamp is older than the threshold, so a wedged loop gets restarted.


class Heartbeat:
    """The last time the worker's event loop ran a beat (monotonic clock, injectable)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last = clock()  # start-up counts as a beat: a loop that never beats goes stale

    def beat(self) -> None:
        self.last = self.clock()

    def age(self) -> float:
        return max(0.0, self.clock() - self.last)

    def alive(self, stale_s: float) -> bool:
        return self.age() <= stale_s

    async def run(self, interval_s: float = 1.0) -> None:
        """Stamp every ``interval_s`` for as long as the loop runs (cancelled on stop)."""
        while True:
            self.beat()
            await asyncio.sleep(interval_s)


HEARTBEAT_AGE = Gauge(
    "streamrec_loop_heartbeat_age_seconds",
    "Seconds since the worker's event loop last stamped its heartbeat (liveness).",
)


def _handler(heartbeat: Heartbeat, stale_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(MetricsHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/livez", "/healthz"):
                return super().do_GET()
            age = heartbeat.age()
            alive = age <= stale_s
            body = f"{'ok' if alive else 'stale'}: loop heartbeat {age:.1f}s ago\n".encode()
            self.send_response(200 if alive else 503)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class MetricsServer:
    """/metrics (Prometheus) and /livez (the loop's heartbeat) on a daemon thread; closing
    it frees the port at once, so the next worker can bind it."""

    def __init__(self, port: int, heartbeat: Heartbeat, stale_s: float, host: str = "0.0.0.0"):
        HEARTBEAT_AGE.set_function(heartbeat.age)
        self.server = ThreadingHTTPServer((host, port), _handler(heartbeat, stale_s))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="metrics-server", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
