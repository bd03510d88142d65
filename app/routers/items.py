"""The catalogue and the popularity fallback."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request

from app import schemas
from app.deps import checked_id, settings_of, store_of

router = APIRouter(prefix="/v1", tags=["items"])


@router.get("/popular", response_model=list[schemas.PopularItem])
async def popular(request: Request, n: int = Query(10, ge=1, le=1000)) -> list[schemas.PopularItem]:
    store = store_of(request)
    top = await store.popular(min(n, settings_of(request).max_n))
    meta = await store.items([item for item, _ in top])
    return [
        schemas.PopularItem(item_id=i, score=s, title=meta[i].title if i in meta else None)
        for i, s in top
    ]


@router.get("/items/{item_id}", response_model=schemas.Item)
async def item(request: Request, item_id: str) -> schemas.Item:
    checked_id(item_id, "item_id", request)
    found = (await store_of(request).items([item_id])).get(item_id)
    if found is None:
        raise HTTPException(404, f"no item {item_id!r} in the catalogue")
    return schemas.Item(item_id=item_id, title=found.title, attributes=found.attributes)


@router.get("/items/{item_id}/similar", response_model=list[schemas.SimilarItem])
async def similar(
    request: Request,
    item_id: str,
    kind: str = Query("cf", description="cf: item-to-item co-occurrence cosine"),
    n: int = Query(10, ge=1, le=1000),
) -> list[schemas.SimilarItem]:
    """The items most similar to ``item_id``, re-scored whenever it is rated."""
    checked_id(item_id, "item_id", request)
    if kind != "cf":
        raise HTTPException(422, "kind must be cf (content and embedding kinds are not built yet)")
    store = store_of(request)
    top = await store.similar_items(item_id, min(n, settings_of(request).max_n))
    meta = await store.items([j for j, _s in top])
    return [
        schemas.SimilarItem(item_id=j, similarity=s, title=meta[j].title if j in meta else None)
        for j, s in top
    ]


@router.get("/stats", response_model=schemas.StreamStats)
async def stats(request: Request) -> schemas.StreamStats:
    """Counters for health panels: events applied, users known, lists waiting for refresh."""
    return schemas.StreamStats(**await store_of(request).stats())
