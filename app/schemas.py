"""Response bodies of the reader's API (they also document the OpenAPI spec)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class RecommendedItem(BaseModel):
    item_id: str
    score: float  # the blend's fused score, or the one source's own score
    # 0–100: 100 when every source serving the user ranks it first (blend.match); for
    # one source (?source=), from its rank in that source's list
    match: int = 0
    source: str  # the strongest source: item-cf, user-cf, content, embedding or popular
    sources: list[str] = []  # every source that listed it, strongest first
    because_item: str | None = None  # item-cf: the recent rating that put it here
    because_title: str | None = None
    title: str | None = None
    genres: list[str] = []


class Recommendations(BaseModel):
    user_id: str
    items: list[RecommendedItem]
    computed_at: float | None  # epoch seconds of the newest source list (None: fallback)
    source: str  # "blend", or the one source asked for


class SimilarItem(BaseModel):
    item_id: str
    similarity: float
    title: str | None = None


class Neighbour(BaseModel):
    user_id: str
    similarity: float
    support: int


class Similarity(BaseModel):
    user_id: str
    other_id: str
    similarity: float  # weighted by its significance, as the neighbourhoods use it
    pearson: float  # the raw Pearson correlation over the co-rated items
    support: int  # co-rated items


class UsedNeighbour(BaseModel):
    user_id: str
    similarity: float
    rating: float


class PredictionOut(BaseModel):
    user_id: str
    item_id: str
    prediction: float | None  # user-based; None: unknown user (no ratings yet)
    # where the user-based prediction starts, before the neighbours: μ + b_u + b_i (the
    # ratings' mean, the user's and the item's damped offsets), or the user's mean
    baseline: float | None = None
    neighbours: list[UsedNeighbour]  # empty when the reader hides neighbours' ratings
    neighbour_count: int = 0  # how many neighbours the user-based prediction used
    neighbours_hidden: bool = False
    embedding: float | None = None  # the embedding learned online
    blend: float | None = None  # the stacked estimate (streams.algo.blend.RATING_WEIGHTS)


class Contribution(BaseModel):
    user_id: str
    similarity: float
    rating: float
    mean: float
    contribution: float  # similarity × (rating − their mean)


class Because(BaseModel):
    user_id: str
    item_id: str
    on_list: bool  # listed by at least one source
    score: float | None  # the user-based predicted rating, when on that list
    sources: list[str] = []  # the sources that list it
    because_item: str | None = None  # item-to-item: the recent rating behind it
    because_title: str | None = None
    neighbours: list[Contribution]  # user-based: who rated it, how similar (or hidden)
    neighbours_hidden: bool = False
    similar_raters: int = 0  # neighbours who rated the item
    similar_mean: float | None = None  # their mean rating (rounded, and only of a group)
    summary: str = ""  # the aggregate in words, e.g. "5 similar users rated it, mean 4.2"


class Item(BaseModel):
    item_id: str
    title: str | None
    attributes: dict[str, Any]


class PopularItem(BaseModel):
    item_id: str
    score: float
    title: str | None = None


class Accepted(BaseModel):
    accepted: int
    event_ids: list[str]


class StreamStats(BaseModel):
    events: float
    users: float
    stale_lists: float


_RATING_IN: dict[str, Any] = {
    "type": "object",
    "required": ["user_id", "item_id", "rating"],
    "properties": {
        "user_id": {"type": "string", "minLength": 1, "maxLength": 256},
        "item_id": {"type": "string", "minLength": 1, "maxLength": 256},
        "rating": {"type": "number", "description": "within the configured bounds (0.5–5)"},
        "ts": {
            "description": "epoch seconds (not milliseconds) or ISO-8601; default: now",
            "anyOf": [{"type": "number"}, {"type": "string"}],
        },
        "op": {"type": "string", "enum": ["upsert", "delete"]},
        "event_id": {"type": "string", "minLength": 1, "maxLength": 256},
    },
}

# POST /v1/ratings reads its body itself (app.body); this documents it for clients and
# for schemathesis, which generates request bodies from it
RATINGS_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    _RATING_IN,
                    {"type": "array", "items": _RATING_IN, "minItems": 1, "maxItems": 1000},
                ]
            }
        }
    },
}
