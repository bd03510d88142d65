"""``streamrec produce``: events from a dataset or a file into Kafka, paced, with a summary."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from streams.datasets import files, movielens, synthetic
from streams.producer import EventProducer, paced
from streams.schemas.ratings import RatingEvent
from streams.settings import WorkerSettings
from streams.topics import count_records, end_offsets


def dataset_events(args: argparse.Namespace, settings: WorkerSettings) -> tuple[Iterable, int]:
    """The chosen events (lazy where possible) and how many there are."""
    if args.dataset == "ml-100k":
        folder = movielens.ensure_ml100k(Path(settings.cache_dir) / "datasets")
        events = movielens.load_ratings(folder)
        return events, len(events)
    if args.dataset == "synthetic":
        spec = synthetic.SyntheticSpec(
            events=args.events, users=args.users, items=args.items, seed=args.seed,
            rerate_share=args.rerate_share, delete_share=args.delete_share,
        )  # fmt: skip
        return synthetic.generate(spec), spec.events
    path = Path(args.file)
    fmt = args.format or files.detect_format(path)
    columns = files.ColumnMap(
        args.user_col, args.item_col, args.rating_col, args.ts_col, args.op_col
    )
    loaded, rejected = files.load_file(path, fmt, columns, settings.limits)
    for row, error in rejected[:10]:
        print(f"row {row}: {error}", file=sys.stderr)
    if rejected:
        print(f"{len(rejected)} rows rejected and not produced", file=sys.stderr)
    return loaded, len(loaded)


def produce_items(settings: WorkerSettings) -> int:
    folder = movielens.ensure_ml100k(Path(settings.cache_dir) / "datasets")
    with EventProducer(settings.kafka) as producer:
        for item in movielens.load_items(folder):
            producer.send_item(settings.topics.items, item)
    return producer.report.delivered


def run(args: argparse.Namespace, settings: WorkerSettings) -> int:
    topic = args.topic or settings.topics.ratings
    events, total = dataset_events(args, settings)
    if args.limit:
        events, total = itertools.islice(events, args.limit), min(total, args.limit)
    if args.with_items and args.dataset == "ml-100k":
        print(f"items: {produce_items(settings)} movies produced to {settings.topics.items}")
    before = end_offsets(settings.kafka, topic) if args.verify else None
    producer = EventProducer(settings.kafka)
    started = time.perf_counter()
    bar = tqdm(total=total, unit="ev", desc=f"produce → {topic}", disable=args.quiet)
    event: RatingEvent
    for event in paced(events, args.rate):
        producer.send_rating(topic, event)
        bar.update(1)
    report = producer.flush()
    report.seconds = time.perf_counter() - started
    bar.close()
    print(
        f"produced {report.produced} events to {topic} in {report.seconds:.2f}s "
        f"({report.rate:,.0f} events/s); delivered {report.delivered}, failed {report.failed}"
    )
    if report.failed:
        print(f"last delivery error: {producer.last_error}", file=sys.stderr)
        return 1
    if before is not None:
        counted = count_records(settings.kafka, topic, start=before)
        verdict = "OK" if counted == report.delivered else "MISMATCH"
        print(f"counted back {counted} records from {topic}: {verdict}")
        return 0 if verdict == "OK" else 1
    return 0
