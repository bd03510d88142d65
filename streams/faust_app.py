"""The Faust application: configuration only; agents live in ``streams.agents``."""

from __future__ import annotations

from pathlib import Path

import faust
from faust.auth import SASLCredentials

from streams.settings import WorkerSettings


def _credentials(settings: WorkerSettings) -> SASLCredentials | None:
    kafka = settings.kafka
    if kafka.sasl_mechanism and kafka.sasl_username and kafka.sasl_password:
        return SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            mechanism=kafka.sasl_mechanism,
        )
    return None


def create_faust_app(settings: WorkerSettings) -> faust.App:
    brokers = ";".join(f"kafka://{s.strip()}" for s in settings.kafka.bootstrap_servers.split(","))
    app = faust.App(
        settings.app_id,
        broker=brokers,
        broker_credentials=_credentials(settings),
        store="memory://",
        datadir=str(Path(settings.data_dir).expanduser()),
        web_enabled=False,
        topic_partitions=settings.topics.ratings_partitions,
        topic_allow_declare=True,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        broker_commit_every=1000,
        broker_commit_interval=1.0,
    )
    from streams.agents import ingest

    ingest.register(app, settings)
    return app
