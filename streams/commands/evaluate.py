"""``streamrec eval``: prequential evaluation of streamrec's sources, its blend and peers."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import Gauge, start_http_server
from tqdm import tqdm

from streams.algo import blend
from streams.algo.content import vectors
from streams.datasets import movielens, synthetic
from streams.evaluation import hybrid, models, peers, report
from streams.evaluation.prequential import Running, prequential
from streams.schemas.ratings import RatingEvent
from streams.settings import WorkerSettings

HIT_RATE = Gauge("streamrec_eval_hit_rate", "Windowed prequential hit rate@10.", ["model"])
RMSE = Gauge("streamrec_eval_rmse", "Windowed prequential RMSE.", ["model"])
EVENTS = Gauge("streamrec_eval_events", "Events replayed so far by the evaluation.")


def load_events(args: argparse.Namespace, settings: WorkerSettings) -> list[RatingEvent]:
    if args.dataset == "ml-100k":
        folder = movielens.ensure_ml100k(Path(settings.cache_dir).expanduser() / "datasets")
        events = movielens.load_ratings(folder)
    else:
        spec = synthetic.SyntheticSpec(events=args.events, users=2_000, items=1_000)
        events = sorted(synthetic.generate(spec), key=lambda e: e.ts)
    return events[: args.limit] if args.limit else events


def load_catalogue(args: argparse.Namespace, settings: WorkerSettings) -> dict[str, Any]:
    """Item id → {"title", "attributes"} (the items topic's content), empty if unknown."""
    if args.dataset != "ml-100k":
        return {}
    folder = movielens.ensure_ml100k(Path(settings.cache_dir).expanduser() / "datasets")
    return {
        i.item_id: {"title": i.title, "attributes": i.attributes}
        for i in movielens.load_items(folder)
    }


def build(
    settings: WorkerSettings,
    with_peers: bool,
    items: dict[str, Any],
    tuning_events: int = 0,
    weights: dict[str, float] | None = None,
    per_reason: int | None = None,
) -> tuple[list[Any], models.Ratings]:
    ratings = models.Ratings()
    bounds = (settings.limits.rating_min, settings.limits.rating_max)
    scale = (max(bounds[0], 1.0), bounds[1])  # ML-100K's 1..5, as River's guide clips
    catalogue = vectors.build(items, settings.content)
    attributes = {i: v.get("attributes") or {} for i, v in items.items()}
    config = replace(settings.embedding, rating_bounds=scale)
    popular = models.MostPopular(ratings)
    user_cf = models.UserKNN(settings.user_cf, ratings)
    item_cf = models.ItemCF(settings.item_cf)
    content = hybrid.ContentModel(catalogue, ratings, settings.content)
    mf = hybrid.EmbeddingModel(config, catalogue, False, attributes)
    neural = hybrid.EmbeddingModel(config, catalogue, True, attributes)
    served = hybrid.Blend(
        {
            "item-cf": item_cf,
            "user-cf": user_cf,
            "content": content,
            "embedding": neural,
            "popular": popular,
        },
        {"embedding": neural, "user-cf": user_cf},  # what the reader's /predict stacks
        ratings,
        weights or dict(blend.DEFAULT_WEIGHTS),
        dict(blend.RATING_WEIGHTS),
        scale,
        tuning_events,
        per_reason=settings.blend.per_reason if per_reason is None else per_reason,
        catalogue=catalogue,
    )
    chosen: list[Any] = [popular, item_cf, user_cf, content, mf, neural, served]
    if with_peers:
        chosen += peers.river_models(scale)
    return chosen, ratings


def temporal(
    events: list[RatingEvent], settings: WorkerSettings, with_peers: bool
) -> dict[str, dict[str, Any]]:
    cut = int(len(events) * 0.8)
    train, test = events[:cut], events[cut:]
    ratings = models.Ratings()
    user_cf = models.UserKNN(settings.user_cf, ratings)
    for offset, e in enumerate(tqdm(train, desc="temporal: learn 80%", unit="ev", leave=False)):
        ratings.learn(e.user_id, e.item_id, e.rating)
        user_cf.learn(e.user_id, e.item_id, e.rating, offset, e.ts)
    known = [e.rating for e in train if e.rating is not None]
    global_mean = sum(known) / len(known)  # for users unseen in training, as Surprise does
    run = Running(window=1)
    for e in tqdm(test, desc="temporal: test 20%", unit="ev", leave=False):
        predicted = user_cf.predict(e.user_id, e.item_id)
        if e.rating is not None:
            run.error(predicted if predicted is not None else global_mean, e.rating)
    summary = run.summary(0)
    out: dict[str, dict[str, Any]] = {
        "streamrec user-cf": {"rmse": summary["rmse"], "mae": summary["mae"]}
        | {"predictions": float(run.predictions)}
    }
    if with_peers:
        bounds = (settings.limits.rating_min, settings.limits.rating_max)
        out |= peers.surprise_temporal(train, test, (max(bounds[0], 1.0), bounds[1]))
    return out


def run(args: argparse.Namespace, settings: WorkerSettings) -> int:
    events = load_events(args, settings)
    if args.metrics_port:
        start_http_server(args.metrics_port)
    weights = json.loads(args.blend_weights) if args.blend_weights else None
    items = load_catalogue(args, settings)
    chosen, ratings = build(
        settings, not args.no_peers, items, args.tuning_events, weights, args.per_reason
    )
    served = next(m for m in chosen if isinstance(m, hybrid.Blend))
    bar = tqdm(total=len(events), unit="ev", desc="prequential", mininterval=2)

    def checkpoint(count: int, running: dict[str, Running]) -> None:
        bar.n = count
        bar.set_postfix(
            {k: round(v.hits / max(v.tests, 1), 3) for k, v in running.items() if v.tests}
        )
        EVENTS.set(count)
        for name, r in running.items():
            windowed = r.windowed()
            if windowed["hit_rate"] is not None:
                HIT_RATE.labels(name).set(windowed["hit_rate"])
            if windowed["rmse"] is not None:
                RMSE.labels(name).set(windowed["rmse"])

    started = time.perf_counter()
    outcome = prequential(
        events,
        chosen,
        ratings,
        window=args.window,
        checkpoint_every=max(1, min(2000, len(events) // 50)),
        on_checkpoint=checkpoint,
        tuning_events=args.tuning_events,
    )
    bar.n = len(events)
    bar.close()
    result: dict[str, Any] = {
        "dataset": args.dataset,
        "events": outcome.events,
        "window": args.window,
        "blend_weights": served.weights,
        "rating_weights": served.rating_weights,
        "fitted_rating_weights": served.fitted_weights(),
        "prequential": outcome.summary,
        "tuning_events": args.tuning_events,
        "held_out": outcome.held_out,
        "served_lists": {
            "whole": served.quality.summary(),
            "held_out": served.quality.summary(held_out=True),
            "per_reason": served.per_reason,
        },
        "series": outcome.series,
        "seconds": time.perf_counter() - started,
    }
    if args.split in ("temporal", "both"):
        result["temporal"] = temporal(events, settings, with_peers=not args.no_peers)
    folder = Path(args.out) / time.strftime("eval-%Y%m%d-%H%M%S")
    paths = report.write(result, folder)
    print(report.markdown(result))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
