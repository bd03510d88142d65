"""Response bodies of the reader's API (they also document the OpenAPI spec)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class RecommendedItem(BaseModel):
    item_id: str
    score: float  # the blend's fused score, or the one source's own score
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
    similarity: float
    support: int


class UsedNeighbour(BaseModel):
    user_id: str
    similarity: float
    rating: float


class PredictionOut(BaseModel):
    user_id: str
    item_id: str
    prediction: float | None  # user-based; None: unknown user (no ratings yet)
    neighbours: list[UsedNeighbour]
    embedding: float | None = None  # the embedding learned online
    blend: float | None = None  # the stacked estimate (streams.blend.RATING_WEIGHTS)


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
    neighbours: list[Contribution]  # user-based: who rated it, how similar


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
