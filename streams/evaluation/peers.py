"""Peers on the same data and metric definitions: River (prequential), Surprise (temporal
split). Hyper-parameters are those of River's MovieLens-100K matrix-factorisation guide and
Surprise's defaults, so the published anchors can be set beside our runs."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from streams.schemas.ratings import RatingEvent


class RiverModel:
    """A ``river.reco`` regressor behind our ``Recommender`` protocol (ratings only:
    ranking every item for every test with River would take hours)."""

    ranks = False

    def __init__(self, name: str, model: Any, bounds: tuple[float, float]) -> None:
        self.name, self.model, self.bounds = name, model, bounds

    def predict(self, user: str, item: str) -> float | None:
        value = self.model.predict_one(user, item)
        return float(min(max(value, self.bounds[0]), self.bounds[1]))

    def recommend(self, user: str, n: int) -> list[str]:
        return []

    def learn(self, user: str, item: str, rating: float | None, offset: int, ts: float) -> None:
        if rating is not None:
            self.model.learn_one(user, item, rating)


def river_models(bounds: tuple[float, float] = (1.0, 5.0)) -> list[RiverModel]:
    from river import optim, reco

    baseline = reco.Baseline(
        optimizer=optim.SGD(0.025), l2=0.0, initializer=optim.initializers.Zeros()
    )
    funk = reco.FunkMF(
        n_factors=10,
        optimizer=optim.SGD(0.05),
        l2=0.1,
        initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=73),
    )
    biased = reco.BiasedMF(
        n_factors=10,
        bias_optimizer=optim.SGD(0.025),
        latent_optimizer=optim.SGD(0.05),
        weight_initializer=optim.initializers.Zeros(),
        latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=73),
        l2_bias=0.0,
        l2_latent=0.0,
    )
    return [
        RiverModel("river-baseline", baseline, bounds),
        RiverModel("river-funkmf", funk, bounds),
        RiverModel("river-biasedmf", biased, bounds),
    ]


def surprise_temporal(
    train: Iterable[RatingEvent], test: Iterable[RatingEvent], bounds: tuple[float, float]
) -> dict[str, dict[str, float]]:
    """KNNWithMeans (Pearson, user-based) and SVD fitted on ``train``, scored on ``test``."""
    from surprise import SVD, Dataset, KNNWithMeans, Reader

    with tempfile.TemporaryDirectory() as tmp:  # Surprise reads files (or pandas frames)
        path = Path(tmp) / "train.tsv"
        with path.open("w", encoding="utf-8") as handle:
            for e in train:
                if e.rating is not None:
                    handle.write(f"{e.user_id}\t{e.item_id}\t{e.rating}\n")
        reader = Reader(line_format="user item rating", sep="\t", rating_scale=bounds)
        trainset = Dataset.load_from_file(str(path), reader=reader).build_full_trainset()
    models = {
        "surprise-knnwithmeans": KNNWithMeans(
            k=40, sim_options={"name": "pearson", "user_based": True}, verbose=False
        ),
        "surprise-svd": SVD(random_state=0),
    }
    pairs = [(e.user_id, e.item_id, e.rating) for e in test if e.rating is not None]
    out = {}
    for name, algo in models.items():
        algo.fit(trainset)
        errors = [algo.predict(u, i).est - r for u, i, r in pairs]
        out[name] = {
            "rmse": math.sqrt(sum(e * e for e in errors) / len(errors)),
            "mae": sum(abs(e) for e in errors) / len(errors),
            "predictions": float(len(errors)),
        }
    return out
