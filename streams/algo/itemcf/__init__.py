"""Item-to-item collaborative filtering: co-occurrence counts, cosine, recent-history top-N."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ItemCFConfig:
    kmax: int = 100  # a user's counted history (0 = no cap)
    fmax: int = 0  # an item's counted interactions (0 = no cap)
    similar_size: int = 100  # length of each item's similar list
    recent: int = 10  # the user's most recent items that score candidates
    decay: float = 0.9  # weight of the t-th most recent item: decay^t · rating
    topn_size: int = 50
    similarity: Literal["cosine", "pearson"] = "cosine"  # pearson: over co-raters' ratings
    min_support: int = 2  # pearson: fewest co-raters for a non-zero similarity
