"""Embeddings learned from the stream: biased matrix factorisation and its neural variant."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmbeddingConfig:
    # Chosen on the first 50,000 events of ML-100K (prequential RMSE), docs/evaluation.md.
    factors: int = 16
    learning_rate: float = 0.1  # user and item factors
    bias_rate: float = 0.05
    regularisation: float = 0.0
    bias_regularisation: float = 0.0
    init_scale: float = 0.1  # factors start as N(0, init_scale²), seeded by the id
    seed: int = 73
    hidden: int = 16  # neural variant: hidden units of the attribute network
    network_rate: float = 0.03
    rating_bounds: tuple[float, float] = (1.0, 5.0)
