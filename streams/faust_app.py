"""The Faust application: configuration and wiring only; agents live in ``streams.agents``."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import redis.asyncio as aioredis
from faust.auth import SASLCredentials, SSLCredentials
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import REGISTRY

from streams.configs import content_config, embedding_config, engine_config, item_cf_config
from streams.engine import Engine
from streams.hybrid_engine import HybridEngine
from streams.hybrid_storage import HybridStore
from streams.item_engine import ItemEngine
from streams.item_storage import ItemStore
from streams.settings import WorkerSettings
from streams.storage import Store


def credentials(settings: WorkerSettings) -> SASLCredentials | SSLCredentials | None:
    """Faust's credentials for the four security protocols (TLS verified against
    ``ssl_cafile`` when given, else the system's CAs)."""
    kafka = settings.kafka
    tls = kafka.security_protocol in ("SSL", "SASL_SSL")
    context = ssl.create_default_context(cafile=kafka.ssl_cafile) if tls else None
    if kafka.sasl_mechanism and kafka.sasl_username and kafka.sasl_password:
        return SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
    return SSLCredentials(context) if context is not None else None


def create_faust_app(settings: WorkerSettings) -> faust.App:
    brokers = ";".join(f"kafka://{s.strip()}" for s in settings.kafka.bootstrap_servers.split(","))
    app = faust.App(
        settings.app_id,
        broker=brokers,
        broker_credentials=credentials(settings),
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
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 4),
    )
    # Faust's own sensor (messages, events, commit latency, …) on the worker's /metrics.
    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(REGISTRY, "faust"))
    by_item = app.topic(
        settings.by_item_topic,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topics.ratings_partitions,
        internal=True,
    )
    client = aioredis.Redis.from_url(
        settings.redis.url, socket_timeout=30, **settings.redis.client_kwargs()
    )
    store = Store(client)
    engine = Engine(store, engine_config(settings))

    hybrid_engine = HybridEngine(
        HybridStore(client),
        store,
        content_config(settings),
        embedding_config(settings),
        settings.embedding == "neural",
        settings.topn_size,
    )

    from streams.agents import catalogue, ingest, pairs, refresher, user_batches

    catalogue.register(app, settings, hybrid_engine)
    ingest.register(app, settings, by_item)
    pairs.register(app, settings, by_item, engine)
    refresher.register(app, settings, engine)
    if settings.item_cf:
        item_engine = ItemEngine(ItemStore(client), store, item_cf_config(settings))
        user_batches.register(app, settings, item_engine, name="cooccur", stage="item-cf")
    if settings.hybrid:
        user_batches.register(app, settings, hybrid_engine, name="hybrid", stage="hybrid")
    return app
