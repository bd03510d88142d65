"""``streamrec``: the one command for operators and developers. Parsing only; work is elsewhere."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from streams.settings import WorkerSettings, load_settings


def _stack(args: argparse.Namespace) -> int:
    from streams.stack import manager
    from streams.stack.config import StackSettings
    from streams.stack.services import StackError

    settings = load_settings(StackSettings)
    try:
        up = args.action == "up"
        settings = manager.with_nodes(
            settings, args.kafka_nodes if up else None, args.redis_cluster if up else None
        )
        if args.action == "up":
            statuses = manager.up(settings)
        elif args.action == "down":
            manager.down(settings)
            return 0
        else:
            statuses = manager.status(settings)
    except StackError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    for status in statuses:
        print(status.line())
    return 0 if all(s.state in ("running", "external") for s in statuses) else 1


def _topics(args: argparse.Namespace) -> int:
    from streams import topics

    settings = load_settings(WorkerSettings)
    specs = topics.topic_specs(settings.topics)
    if args.action == "create":
        for name, outcome in topics.create_topics(settings.kafka, specs).items():
            print(f"{name}: {outcome}")
        return 0
    try:
        topics.check_topics(settings.kafka, specs)
    except topics.TopicMismatch as exc:
        print(f"topics: {exc}", file=sys.stderr)
        return 1
    print("topics: " + ", ".join(f"{s.name} ({s.partitions} partitions)" for s in specs) + " OK")
    return 0


def _health(args: argparse.Namespace) -> int:
    """For container HEALTHCHECKs: 0 when the reader's /readyz or the worker's /livez
    answers 200 on this host (whichever this container runs)."""
    import os
    import urllib.request

    reader = os.environ.get("STREAMREC_READER_PORT", "8080")
    worker = os.environ.get("STREAMREC_METRICS_PORT", "9108")
    urls = args.url or [f"http://127.0.0.1:{reader}/readyz", f"http://127.0.0.1:{worker}/livez"]
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return 0
        except OSError:
            continue
    print(f"health: nothing healthy at {', '.join(urls)}", file=sys.stderr)
    return 1


def _bench(args: argparse.Namespace) -> int:
    """Runs bench/suite.py (or ``bench soak``: bench/soak.py) from a source checkout
    (benchmarks are not part of the wheel)."""
    import os
    import subprocess
    from pathlib import Path

    root = Path.cwd()
    if not (root / "bench" / "suite.py").exists():
        print(
            "bench: run from a streamrec source checkout (bench/ is not installed)", file=sys.stderr
        )
        return 2
    env = os.environ | {"PYTHONPATH": str(root)}
    module, rest = (
        ("bench.soak", args.rest[1:]) if args.rest[:1] == ["soak"] else ("bench.suite", args.rest)
    )
    return subprocess.call([sys.executable, "-m", module, *rest], cwd=root, env=env)


def _eval(args: argparse.Namespace) -> int:
    from streams.commands import evaluate

    return evaluate.run(args, load_settings(WorkerSettings))


def _produce(args: argparse.Namespace) -> int:
    from streams.commands import produce

    if not (args.dataset or args.file):
        print("produce: give --dataset ml-100k|synthetic or --file PATH", file=sys.stderr)
        return 2
    return produce.run(args, load_settings(WorkerSettings))


def _count(args: argparse.Namespace) -> int:
    from streams.topics import count_records, end_offsets

    settings = load_settings(WorkerSettings)
    topic = args.topic or settings.topics.ratings
    if not end_offsets(settings.kafka, topic):
        print(f"count: topic {topic!r} does not exist", file=sys.stderr)
        return 1
    print(f"{topic}: {count_records(settings.kafka, topic)} records")
    return 0


def _dataset(args: argparse.Namespace) -> int:
    from pathlib import Path

    from streams.datasets.movielens import ensure_ml100k

    settings = load_settings(WorkerSettings)
    print(ensure_ml100k(Path(settings.cache_dir) / "datasets"))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from streams.worker.run import run_worker

    return run_worker(load_settings(WorkerSettings))


def _reader(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.settings import ReaderSettings

    settings = load_settings(ReaderSettings)
    from streams.logs import logging_config

    common: dict[str, Any] = {
        "host": settings.reader_host,
        "port": settings.reader_port,
        "log_config": logging_config(settings.log_level, settings.log_format),
    }
    if settings.reader_workers > 1:  # each process builds its app from the environment
        uvicorn.run("app.main:app_from_environment", factory=True,
                    workers=settings.reader_workers, **common)  # fmt: skip
    else:
        uvicorn.run(create_app(settings), **common)
    return 0


def _wait_idle(args: argparse.Namespace) -> int:
    from streams.commands.wait_idle import wait_idle

    converged = not args.skip_sweep
    if wait_idle(load_settings(WorkerSettings), timeout=args.timeout, converged=converged):
        print("idle: topics drained, no stale list" + (", converged" if converged else ""))
        return 0
    print(f"not idle after {args.timeout}s", file=sys.stderr)
    return 1


def _demo(args: argparse.Namespace) -> int:
    from app.settings import ReaderSettings
    from streams.commands.demo import run

    port = load_settings(ReaderSettings).reader_port
    return run(load_settings(WorkerSettings), args.user, args.exit, port)


def _rebuild(args: argparse.Namespace) -> int:
    from streams.commands.rebuild import run

    return run(load_settings(WorkerSettings), args.yes)


def _dlq(args: argparse.Namespace) -> int:
    from streams.commands.dlq import show

    return show(load_settings(WorkerSettings), args.limit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamrec", description="Streaming, real-time recommender on Kafka and Redis."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="local Kafka (KRaft) + Redis: up, down, status")
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.add_argument(
        "--kafka-nodes",
        type=int,
        choices=range(1, 6),
        metavar="N",
        help="up: run N KRaft nodes (replication min(3, N), min.insync.replicas one less); "
        "down and status use the count the stack was started with",
    )
    stack.add_argument(
        "--redis-cluster",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="up: also run a Redis Cluster (3 masters, a replica each) on "
        "STREAMREC_STACK_REDIS_CLUSTER_PORT (7000) and the five ports after it; point the "
        "worker and the reader at it with STREAMREC_REDIS__URL and STREAMREC_REDIS__CLUSTER=true",
    )
    stack.set_defaults(handler=_stack)

    topics = sub.add_parser("topics", help="create or check the topics streamrec uses")
    topics.add_argument("action", choices=["create", "check"])
    topics.set_defaults(handler=_topics)

    produce = sub.add_parser("produce", help="produce rating events from a dataset or a file")
    source = produce.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=["ml-100k", "synthetic"])
    source.add_argument("--file", help="CSV, TSV or JSONL file of rating events")
    produce.add_argument("--format", choices=["csv", "tsv", "jsonl"])
    for column in ("user", "item", "rating", "ts", "op"):
        default = f"{column}_id" if column in ("user", "item") else column
        produce.add_argument(f"--{column}-col", default=default, help=f"column of {column}")
    produce.add_argument("--events", type=int, default=100_000, help="synthetic: events")
    produce.add_argument("--users", type=int, default=5_000, help="synthetic: users")
    produce.add_argument("--items", type=int, default=2_000, help="synthetic: items")
    produce.add_argument("--seed", type=int, default=42, help="synthetic: random seed")
    produce.add_argument("--rerate-share", type=float, default=0.05, help="synthetic")
    produce.add_argument("--delete-share", type=float, default=0.01, help="synthetic")
    produce.add_argument("--rate", type=float, default=0, help="events/s, 0 = unthrottled")
    produce.add_argument("--limit", type=int, default=0, help="produce at most N events")
    produce.add_argument("--topic", help="override the ratings topic")
    produce.add_argument("--with-items", action="store_true", help="ml-100k: movies too")
    produce.add_argument("--verify", action="store_true", help="count the records back")
    produce.add_argument("--quiet", action="store_true", help="no progress bar")
    produce.set_defaults(handler=_produce)

    count = sub.add_parser("count", help="count the records in a topic")
    count.add_argument("--topic")
    count.set_defaults(handler=_count)

    dataset = sub.add_parser("dataset", help="fetch MovieLens-100K into the cache")
    dataset.add_argument("name", choices=["ml-100k"])
    dataset.set_defaults(handler=_dataset)

    worker = sub.add_parser("worker", help="run the stream worker (Faust)")
    worker.set_defaults(handler=_worker)

    idle = sub.add_parser("wait-idle", help="wait until the stream is drained, nothing stale")
    idle.add_argument("--timeout", type=float, default=600)
    idle.add_argument(
        "--skip-sweep",
        action="store_true",
        help="do not wait for the sweep that refreshes every list once the stream is quiet",
    )
    idle.set_defaults(handler=_wait_idle)

    demo = sub.add_parser(
        "demo", help="workers + the reader's live page + MovieLens-100K replay + a user's top-10"
    )
    demo.add_argument("--user", default="196")
    demo.add_argument("--exit", action="store_true", help="exit after printing (scripts)")
    demo.set_defaults(handler=_demo)

    rebuild = sub.add_parser("rebuild", help="drop Redis state, replay ratings from the start")
    rebuild.add_argument("--yes", action="store_true", help="really drop the state")
    rebuild.set_defaults(handler=_rebuild)

    reader = sub.add_parser("reader", help="run the HTTP reader (FastAPI)")
    reader.set_defaults(handler=_reader)

    bench = sub.add_parser(
        "bench", help="the benchmark suite, side by side (bench/suite.py); bench soak: the soak"
    )
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="options for bench/suite.py")
    bench.set_defaults(handler=_bench)

    health = sub.add_parser("health", help="exit 0 if this host's reader or worker is healthy")
    health.add_argument("--url", action="append", help="probe this URL instead (repeatable)")
    health.set_defaults(handler=_health)

    evaluate = sub.add_parser("eval", help="prequential evaluation beside River and Surprise")
    evaluate.add_argument("--dataset", choices=["ml-100k", "synthetic"], default="ml-100k")
    evaluate.add_argument("--limit", type=int, default=0, help="only the first N events")
    evaluate.add_argument("--events", type=int, default=50_000, help="synthetic stream size")
    evaluate.add_argument("--split", choices=["prequential", "temporal", "both"], default="both")
    evaluate.add_argument("--no-peers", action="store_true", help="streamrec's models only")
    evaluate.add_argument("--window", type=int, default=5000, help="sliding window, tests")
    evaluate.add_argument(
        "--tuning-events",
        type=int,
        default=50_000,
        help="the early part on which defaults were chosen; also reported without it",
    )
    evaluate.add_argument(
        "--blend-weights",
        default="",
        help='JSON source → weight for the fused list, e.g. {"item-cf": 1, "content": 0.2}',
    )
    evaluate.add_argument(
        "--per-reason",
        type=int,
        default=None,
        help="items per 'because' item in the served list (0 = no cap; default: the setting)",
    )
    evaluate.add_argument("--metrics-port", type=int, default=0, help="Prometheus exporter")
    evaluate.add_argument("--out", default="bench/results", help="report folder (JSON, md, PNG)")
    evaluate.set_defaults(handler=_eval)

    dlq = sub.add_parser("dlq", help="show dead-lettered events with their reasons")
    dlq.add_argument("--limit", type=int, default=20)
    dlq.set_defaults(handler=_dlq)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # every option belongs to bench/suite.py
        return _bench(argparse.Namespace(rest=argv[1:]))
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
