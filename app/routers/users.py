"""What the stream computed for one user: lists, neighbours, similarities, predictions."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from app import schemas
from app.deps import checked_id, settings_of, store_of

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.get("/{user_id}/recommendations", response_model=schemas.Recommendations)
async def recommendations(
    request: Request, user_id: str, n: int = Query(10, ge=1, le=1000)
) -> schemas.Recommendations:
    """The user's top-N; an unknown user (or one with no list yet) gets the popular list."""
    checked_id(user_id, "user_id", request)
    n = min(n, settings_of(request).max_n)
    store = store_of(request)
    top, computed_at, _known = await store.top_n(user_id, n)
    source = "cf"
    if not top:
        top, computed_at, source = await store.popular(n), None, "popular"
    meta = await store.items([item for item, _ in top])
    items = [
        schemas.RecommendedItem(
            item_id=item,
            score=score,
            source=source,
            title=meta[item].title if item in meta else None,
            genres=meta[item].attributes.get("genres", []) if item in meta else [],
        )
        for item, score in top
    ]
    return schemas.Recommendations(
        user_id=user_id, items=items, computed_at=computed_at, source=source
    )


@router.get("/{user_id}/neighbors", response_model=list[schemas.Neighbour])
async def neighbours(
    request: Request, user_id: str, k: int = Query(20, ge=1, le=1000)
) -> list[schemas.Neighbour]:
    checked_id(user_id, "user_id", request)
    k = min(k, settings_of(request).max_k)
    rows = await store_of(request).neighbours(user_id, k)
    return [schemas.Neighbour(user_id=v, similarity=s, support=n) for v, s, n in rows]


@router.get("/{user_id}/similarity/{other_id}", response_model=schemas.Similarity)
async def similarity(request: Request, user_id: str, other_id: str) -> schemas.Similarity:
    checked_id(user_id, "user_id", request)
    checked_id(other_id, "other_id", request)
    sim, support = await store_of(request).similarity(user_id, other_id)
    return schemas.Similarity(user_id=user_id, other_id=other_id, similarity=sim, support=support)


@router.get("/{user_id}/predict/{item_id}", response_model=schemas.PredictionOut)
async def predict(request: Request, user_id: str, item_id: str) -> schemas.PredictionOut:
    checked_id(user_id, "user_id", request)
    checked_id(item_id, "item_id", request)
    result = await request.app.state.engine.predict(user_id, item_id)
    if result is None:
        return schemas.PredictionOut(
            user_id=user_id, item_id=item_id, prediction=None, neighbours=[]
        )
    used = [
        schemas.UsedNeighbour(user_id=v, similarity=s, rating=r) for v, s, r in result.neighbours
    ]
    return schemas.PredictionOut(
        user_id=user_id, item_id=item_id, prediction=result.value, neighbours=used
    )


@router.get("/{user_id}/recommendations/{item_id}/because", response_model=schemas.Because)
async def because(request: Request, user_id: str, item_id: str) -> schemas.Because:
    """The neighbours, and their ratings, that put the item on the user's list."""
    checked_id(user_id, "user_id", request)
    checked_id(item_id, "item_id", request)
    settings = settings_of(request)
    store = store_of(request)
    top, _at, _known = await store.top_n(user_id, settings.max_n)
    scores = dict(top)
    rows = await store.because(user_id, item_id, settings.max_k)
    rows = rows[: settings.predict_k]
    return schemas.Because(
        user_id=user_id,
        item_id=item_id,
        on_list=item_id in scores,
        score=scores.get(item_id),
        neighbours=[
            schemas.Contribution(
                user_id=v, similarity=s, rating=r, mean=m, contribution=s * (r - m)
            )
            for v, s, r, m in rows
        ],
    )
