"""Item-to-item collaborative filtering: co-occurrence counts, cosine, recent-history top-N."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Ge, Interval


@dataclass(frozen=True)
class ItemCFConfig:
    """The item-to-item math (``STREAMREC_ITEM_CF__*``); bounds are checked at start-up."""

    kmax: Annotated[int, Interval(ge=0, le=100_000)] = 0  # a user's counted history (0 = no cap)
    # pairs only of items rated at most this many apart in a user's sequence (0 = every
    # counted pair; streams.algo.itemcf.cooccurrence); it bounds an event's pairs by 2W.
    # 30 with no kMax was best of W 20–50 × kMax 0/100 on the first 50,000 ML-100K
    # events (hit rate@10 0.1875 against 0.1784 for kMax 100 without it; docs/evaluation.md)
    window: Annotated[int, Interval(ge=0, le=100_000)] = 30
    fmax: Annotated[int, Ge(0)] = 0  # an item's counted interactions (0 = no cap)
    similar_size: Annotated[int, Interval(ge=1, le=10_000)] = 100  # each item's similar list
    recent: Annotated[int, Interval(ge=1, le=1000)] = 10  # the recent items that score
    decay: Annotated[float, Interval(gt=0, le=1)] = 0.9  # t-th most recent: decay^t · rating
    topn_size: Annotated[int, Interval(ge=1, le=1000)] = 50
    similarity: Literal["cosine", "pearson"] = "cosine"  # pearson: over co-raters' ratings
    min_support: Annotated[int, Ge(1)] = 2  # pearson: fewest co-raters for a non-zero similarity
