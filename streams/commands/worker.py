"""``streamrec worker``: check the topics, expose /metrics, then run the Faust worker."""

from __future__ import annotations

import sys

from prometheus_client import start_http_server

from streams.logs import logging_config
from streams.settings import WorkerSettings
from streams.topics import TopicMismatch, check_topics, topic_specs


def run_worker(settings: WorkerSettings) -> int:
    try:
        check_topics(settings.kafka, topic_specs(settings.topics))
    except TopicMismatch as exc:
        print(f"worker: refusing to start: {exc}", file=sys.stderr)
        return 2
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr="0.0.0.0")
    from faust import Worker

    from streams.faust_app import create_faust_app

    app = create_faust_app(settings)
    config = logging_config(settings.log_level, settings.log_format)
    worker = Worker(app, loglevel=settings.log_level, quiet=True, logging_config=config)
    worker.execute_from_commandline()  # returns only via SystemExit
    return 0
