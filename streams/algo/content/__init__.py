"""Content-based similarity: item vectors from catalogue attributes, cosine, user profiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Interval


@dataclass(frozen=True)
class ContentConfig:
    """Weights of the attribute groups in an item's vector (each group is L2-normalised
    before weighting, so a weight is that group's share of the cosine);
    ``STREAMREC_CONTENT__*``."""

    genre_weight: Annotated[float, Ge(0)] = 1.0
    year_weight: Annotated[float, Ge(0)] = 0.5
    words_weight: Annotated[float, Ge(0)] = 0.5  # title words, TF-IDF
    tags_weight: Annotated[float, Ge(0)] = 0.5  # tags, TF-IDF
    year_bucket: Annotated[int, Interval(ge=1, le=100)] = 5  # a neighbouring bucket: half
    hashed_words: Annotated[int, Interval(ge=8, le=1 << 20)] = 512  # hashed columns
    similar_size: Annotated[int, Interval(ge=1, le=10_000)] = 100
    profile_k: Annotated[int, Interval(ge=1, le=10_000)] = 30  # kNN: the most similar rated
