"""Faust's Prometheus sensor without its per-event work.

Faust calls its monitor's hooks for every record a stream takes in and lets go (four
passes per rating: three agents on ``ratings`` and the by-item topic) and for every
record sent; ``PrometheusMonitor`` updates several labelled metrics in each, 13–25 µs
per pass here (docs/performance.md), a cost that grows with the throughput. This
monitor keeps Faust's per-commit, per-send-error and per-rebalance metrics and does in
the per-record hooks only what Faust itself reads back: the time a stream last took a
record (its "stream has not started processing" check). The streamrec metrics
(``streams.metrics``) count events and time batches, once per batch.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors.prometheus import PrometheusMonitor
from faust.types import TP


class BatchMonitor(PrometheusMonitor):
    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()  # read by Faust's stall check
        return None

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        return None

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self.send_errors += 1
        self._metrics.total_error_messages_sent.inc()

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        self.tp_end_offsets[tp] = offset  # a dict store, as Faust's own monitor
