"""The worker's Faust monitor does no per-record metric work, and keeps what Faust reads
back (the stall check's inbound time) and the per-commit and per-error metrics."""

from types import SimpleNamespace

from faust.sensors.prometheus import FaustMetrics
from faust.types import TP
from prometheus_client import CollectorRegistry

from streams.worker.monitor import BatchMonitor


def monitor() -> tuple[BatchMonitor, CollectorRegistry]:
    registry = CollectorRegistry()
    return BatchMonitor(metrics=FaustMetrics.create(registry, "faust")), registry


def samples(registry: CollectorRegistry) -> dict[str, float]:
    return {s.name: s.value for f in registry.collect() for s in f.samples if not s.labels}


def test_per_record_hooks_touch_no_metric_and_keep_the_inbound_time():
    mon, registry = monitor()
    before = samples(registry)
    tp = TP("ratings", 3)
    message = SimpleNamespace(tp=tp, offset=7)
    for offset in range(100):
        mon.on_message_in(tp, offset, message)
        state = mon.on_stream_event_in(tp, offset, object(), SimpleNamespace(message=message))
        mon.on_stream_event_out(tp, offset, object(), SimpleNamespace(message=message), state)
        mon.on_message_out(tp, offset, message)
        sent = mon.on_send_initiated(None, "by-item", message, 1, 10)
        mon.on_send_completed(None, sent, None)
        mon.track_tp_end_offset(tp, offset + 1)
    assert samples(registry) == before
    assert tp in mon.stream_inbound_time  # Faust's "stream has not started" check reads it
    assert mon.tp_end_offsets[tp] == 100


def test_send_errors_and_commits_are_still_counted():
    mon, registry = monitor()
    mon.on_send_error(None, RuntimeError("broker gone"), None)
    mon.on_commit_completed(None, mon.on_commit_initiated(None))
    values = samples(registry)
    assert values["faust_total_error_messages_sent_total"] == 1
    assert values["faust_consumer_commit_latency_count"] == 1
