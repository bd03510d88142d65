"""The catalogue and the popularity fallback."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from app import schemas
from app.deps import ItemId, Settings, Store
from app.store import SIMILAR_KEYS

router = APIRouter(prefix="/v1", tags=["items"])


@router.get("/popular", response_model=list[schemas.PopularItem])
async def popular(
    store: Store, settings: Settings, n: int = Query(10, ge=1, le=1000)
) -> list[schemas.PopularItem]:
    top = await store.popular(min(n, settings.max_n))
    meta = await store.items([item for item, _ in top])
    return [
        schemas.PopularItem(item_id=i, score=s, title=meta[i].title if i in meta else None)
        for i, s in top
    ]


@router.get("/items/{item_id}", response_model=schemas.Item)
async def item(store: Store, item_id: ItemId) -> schemas.Item:
    found = (await store.items([item_id])).get(item_id)
    if found is None:
        raise HTTPException(404, f"no item {item_id!r} in the catalogue")
    return schemas.Item(item_id=item_id, title=found.title, attributes=found.attributes)


@router.get("/items/{item_id}/similar", response_model=list[schemas.SimilarItem])
async def similar(
    store: Store,
    settings: Settings,
    item_id: ItemId,
    kind: str = Query(
        "cf",
        description="cf: co-occurrence cosine; content: attribute cosine; "
        "embedding: cosine of the embeddings learned online",
    ),
    n: int = Query(10, ge=1, le=1000),
) -> list[schemas.SimilarItem]:
    """The items most similar to ``item_id``: cf and embedding lists are re-scored when
    the item is rated, content lists when the catalogue changes."""
    if kind not in SIMILAR_KEYS:
        raise HTTPException(422, f"kind must be one of {', '.join(SIMILAR_KEYS)}")
    top = await store.similar_items(item_id, min(n, settings.max_n), kind)
    meta = await store.items([j for j, _s in top])
    return [
        schemas.SimilarItem(item_id=j, similarity=s, title=meta[j].title if j in meta else None)
        for j, s in top
    ]


@router.get("/stats", response_model=schemas.StreamStats)
async def stats(store: Store) -> schemas.StreamStats:
    """Counters for health panels: events applied, users known, lists waiting for refresh."""
    return schemas.StreamStats(**await store.stats())
