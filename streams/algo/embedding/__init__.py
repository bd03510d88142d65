"""Embeddings learned from the stream: biased matrix factorisation and its neural variant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Interval


@dataclass(frozen=True)
class EmbeddingConfig:
    """``STREAMREC_EMBEDDING__*``. Chosen on the first 50,000 events of ML-100K
    (prequential RMSE), docs/evaluation.md."""

    factors: Annotated[int, Interval(ge=1, le=512)] = 16
    learning_rate: Annotated[float, Interval(gt=0, le=1)] = 0.1  # user and item factors
    bias_rate: Annotated[float, Interval(gt=0, le=1)] = 0.05
    regularisation: Annotated[float, Interval(ge=0, le=1)] = 0.0
    bias_regularisation: Annotated[float, Interval(ge=0, le=1)] = 0.0
    init_scale: Annotated[float, Interval(gt=0, le=10)] = 0.1  # N(0, scale²), seeded by id
    seed: Annotated[int, Ge(0)] = 73
    hidden: Annotated[int, Interval(ge=1, le=512)] = 16  # neural: the attribute network
    network_rate: Annotated[float, Interval(ge=0, le=1)] = 0.03
    # derived by the worker's settings from the event limits, never set by hand
    rating_bounds: tuple[float, float] = (1.0, 5.0)
