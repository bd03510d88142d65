"""The worker's Prometheus metrics, in one place so names and labels stay consistent."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()

EVENTS = Counter("streamrec_events_total", "Rating events consumed, by outcome.", ["outcome"])
DEAD_LETTERS = Counter(
    "streamrec_dead_letters_total", "Events sent to the dead-letter topic, by reason.", ["reason"]
)
BATCH_SIZE = Histogram(
    "streamrec_batch_size_events",
    "Events per micro-batch.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
BATCH_SECONDS = Histogram(
    "streamrec_batch_apply_seconds",
    "Time to process one micro-batch, by stage.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
FRESHNESS_BUCKETS = (
    *(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75),
    *(1, 2, 5, 10, 30, 60),
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
STALE_LISTS = Gauge("streamrec_stale_lists", "Users whose lists wait for the refresher.")
REDIS_ERRORS = Counter("streamrec_redis_errors_total", "Redis calls that failed.", ["stage"])
AGENT_FAILURES = Counter(
    "streamrec_agent_failures_total",
    "Unexpected exceptions that stopped the worker (fail-stop), by agent.",
    ["stage"],
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
