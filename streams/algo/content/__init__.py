"""Content-based similarity: item vectors from catalogue attributes, cosine, user profiles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContentConfig:
    """Weights of the attribute groups in an item's vector (each group is L2-normalised
    before weighting, so a weight is that group's share of the cosine)."""

    genre_weight: float = 1.0
    year_weight: float = 0.5
    words_weight: float = 0.5  # title words, TF-IDF
    tags_weight: float = 0.5  # tags, TF-IDF
    year_bucket: int = 5  # years per bucket; a neighbouring bucket counts half
    hashed_words: int = 512  # title words and tags are hashed into this many columns
    similar_size: int = 100
    profile_k: int = 30  # content kNN prediction: the user's most similar rated items
