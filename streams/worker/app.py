"""The Faust application: configuration and wiring only; agents live in ``streams.worker``."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import faust
from faust.auth import SASLCredentials, SSLCredentials
from faust.sensors.prometheus import FaustMetrics
from prometheus_client import REGISTRY

from streams.engines.hybrid import HybridEngine
from streams.engines.itemcf import ItemEngine
from streams.engines.served import Fuser
from streams.engines.usercf import Engine
from streams.settings import WorkerSettings
from streams.state.clients import ReplicaBarrier, async_client
from streams.state.hybrid import HybridStore
from streams.state.itemcf import ItemStore
from streams.state.served import ServedStore
from streams.state.usercf import Store
from streams.worker.monitor import BatchMonitor
from streams.worker.rewind import Rewinder


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


class StreamrecApp(faust.App):
    """Faust's app with a bounded drain when the worker stops.

    On stop Faust suspends delivery, then waits, with no limit, until every message it
    handed to the agents is acknowledged. Under back-pressure (several agents read
    ``ratings``, the slowest one's buffer is full) some messages are parked in a
    delivery that the suspension never lets through, so they can never be acknowledged
    and a busy worker hung there for good after SIGTERM (Faust's wait also swallows a
    cancel). Here the stop waits at most ``drain_s``, and less once acknowledgements stop
    coming: what is acknowledged is committed (by Faust, when the consumer stops), the
    rest is abandoned, harmless as after ``kill -9`` because the per-partition fences
    redo it exactly once after a restart. A rebalance keeps Faust's own wait.
    """

    drain_s: float = 5.0
    drain_quiet_s: float = 1.0  # no acknowledgement for this long: nothing is in flight

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        if not self.should_stop:  # a rebalance, not a stop
            return await super()._consumer_wait_empty(consumer, logger)
        unacked = getattr(consumer, "_unacked_messages", None)
        if unacked is None or not self.conf.stream_wait_empty:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_s
        left, quiet_since = len(unacked), loop.time()
        while unacked and loop.time() < deadline:
            await asyncio.sleep(0.05)
            consumer._clean_unacked_messages()
            if len(unacked) < left:
                left, quiet_since = len(unacked), loop.time()
            elif loop.time() - quiet_since >= self.drain_quiet_s:
                break
        if unacked:
            logger.warning(
                "stopping: %d delivered records not acknowledged are left to the next "
                "worker (the fences apply them exactly once)",
                len(unacked),
            )


def create_faust_app(settings: WorkerSettings, drain_s: float = 5.0) -> faust.App:
    datadir = Path(settings.data_dir).expanduser()
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    brokers = ";".join(f"kafka://{s.strip()}" for s in settings.kafka.bootstrap_servers.split(","))
    app = StreamrecApp(
        settings.app_id,
        broker=brokers,
        broker_credentials=credentials(settings),
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        topic_partitions=settings.topics.ratings_partitions,
        # the by-item topic and Faust's own are declared by Faust: as many copies as ours
        topic_replication_factor=settings.topics.replication_factor,
        topic_allow_declare=True,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        broker_commit_every=1000,
        stream_buffer_maxsize=max(4096, 2 * settings.batch_max),  # room for a whole batch
        # Faust dispatches a whole poll before it polls again, and one poll behind a
        # backlog held ~50,000 ratings records (big producer batches are fetched whole):
        # the by-item records fetched meanwhile waited ~30 s behind it, so the demo's
        # user-based path applied nothing for its first 40-60 s. Small polls let the
        # by-item partitions in as soon as the ratings partitions are under pressure.
        broker_max_poll_records=settings.batch_max // 4,
        # 128 KB fetched per partition (Faust's default 1 MB) keeps what waits in the
        # fetcher small; on its own it did not end the starvation above (measured)
        consumer_max_fetch_size=128 * 1024,
        broker_commit_interval=1.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 4),
    )
    app.drain_s = drain_s
    # Faust's own sensor (commit latency, rebalances, send errors) on the worker's
    # /metrics, without its per-record hooks (streams.worker.monitor).
    app.monitor = BatchMonitor(metrics=FaustMetrics.create(REGISTRY, "faust"))
    by_item = app.topic(
        settings.by_item_topic,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topics.ratings_partitions,
        internal=True,
    )
    client = async_client(settings.redis, socket_timeout=30)
    store = Store(client)
    engine = Engine(store, settings.user_cf)
    hybrid_store = HybridStore(client)
    item_store = ItemStore(client, settings.item_cf.row_cache_entries)
    for marking in (store, hybrid_store, item_store):
        marking.mark_served = settings.served.enabled
    store.barrier = ReplicaBarrier(client, settings.redis)  # every path's progress

    hybrid_engine = HybridEngine(
        hybrid_store,
        store,
        settings.content,
        settings.embedding,
        settings.embedding.kind == "neural",
        settings.embedding.topn_size,
        settings.embedding.similar_every_s,
    )

    from streams.worker import (
        audit,
        catalogue,
        fuser,
        lists_process,
        pairs,
        ratings,
        refresher,
        similar_timer,
    )

    user_keyed: dict[str, ratings.UserBatchEngine] = {}
    if settings.item_cf.enabled:
        user_keyed["item-cf"] = ItemEngine(
            item_store, store, settings.item_cf, settings.item_cf.similar_every_s
        )
    if settings.embedding.enabled:
        user_keyed["hybrid"] = hybrid_engine
    rewinder = Rewinder(store)  # every path's progress is in ``store``
    rewinder.install(app)
    catalogue.register(app, settings, hybrid_engine, rewinder)
    ratings.register(app, settings, by_item, user_keyed, rewinder)
    pairs.register(app, settings, by_item, engine, rewinder)
    audit.register(app, store)
    similar_timer.register(app, list(user_keyed.values()))  # type: ignore[arg-type]
    refresher.register(app, settings, engine)
    if settings.lists_process:  # the refresher and the fuser: a child process
        lists_process.register(app, settings)
    elif settings.served.enabled:
        served = ServedStore(client)
        weights, cold = settings.blend.weights(), settings.blend.cold_start_ratings
        fusing = Fuser(
            served, weights, settings.served.size, cold, per_reason=settings.blend.per_reason
        )
        fuser.register(app, settings.served, served, fusing)
    return app
