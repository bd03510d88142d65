"""The floor for ingest throughput: a Faust agent on the same topic that does nothing.

Same broker settings and consumer configuration as the worker; the difference between
its events/s and the worker's is streamrec's own cost. Run by ``bench.suite``.
"""

from __future__ import annotations

from typing import Any

import faust

from streams.settings import WorkerSettings, load_settings


def main() -> None:
    settings = load_settings(WorkerSettings)
    brokers = ";".join(f"kafka://{s.strip()}" for s in settings.kafka.bootstrap_servers.split(","))
    app = faust.App(
        settings.app_id,
        broker=brokers,
        store="memory://",
        datadir=settings.data_dir,
        web_enabled=False,
        topic_partitions=settings.topics.ratings_partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=1000,
        broker_commit_interval=1.0,
    )
    # the catalogue too: the replay sends it first, as the demo does, and counts a run
    # done when the group has committed every topic the worker reads
    topics = (settings.topics.ratings, settings.topics.items)
    inputs = app.topic(*topics, key_serializer="raw", value_serializer="raw")

    @app.agent(inputs, name="floor")
    async def floor(stream: Any) -> None:
        async for _batch in stream.take(settings.batch_max, settings.batch_within_s):
            pass

    app.main()


if __name__ == "__main__":
    import sys

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    main()
