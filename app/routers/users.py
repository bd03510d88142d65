"""What the stream computed for one user: lists, neighbours, similarities, predictions."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from app import schemas
from app.deps import ItemId, OtherId, Settings, Store, UserId
from app.store import ReaderStore
from streams.algo import blend
from streams.algo.usercf.pearson import significance
from streams.state.served import first, with_user

router = APIRouter(prefix="/v1/users", tags=["users"])

# with neighbours hidden, a mean is shown only over this many raters: the mean of one or
# two is their rating
MIN_GROUP = 3


SOURCES = ("blend", *blend.SOURCES)
JSON = "application/json"
N_DEFAULT, N_MAX = 10, 1000  # the recommendations route's n (app.fast parses it too)


async def served_body(store: ReaderStore, user_id: str, n: int) -> bytes | None:
    """The first ``n`` items of the user's stored served list, or of the unknown users'
    list under the asked id; None before any fuser has run on this store. Shared with
    the route's fast path (``app.fast``)."""
    found = await store.served(user_id)
    if found is not None:
        return first(*found, n)
    found = await store.popular_served()
    return None if found is None else with_user(first(*found, n), user_id)


@router.get("/{user_id}/recommendations", response_model=schemas.Recommendations)
async def recommendations(
    user_id: UserId,
    settings: Settings,
    store: Store,
    n: int = Query(N_DEFAULT, ge=1, le=N_MAX),
    source: str = Query(
        "blend", description="blend, item-cf, user-cf, content, embedding or popular"
    ),
) -> Response:
    """The served top-N: the sources fused by weighted reciprocal rank (``source=blend``),
    as the worker stored it when one of them changed (one Redis read, the stored bytes
    served as they are), or one source alone. A user with few ratings is routed to
    content and popularity (``streams.algo.blend.route``); a user no source knows yet
    gets the popular items."""
    if source not in SOURCES:
        raise HTTPException(422, f"source must be one of {', '.join(SOURCES)}")
    n = min(n, settings.max_n)
    if source == "blend":
        stored = await served_body(store, user_id, n)
        if stored is not None:
            return Response(stored, media_type=JSON)
        source = "popular"  # no fuser has run yet on this store
    found_lists = await store.sources(user_id, max(n, blend.DEPTH))
    fused = [(i, score, [source]) for i, score in found_lists.lists[source][:n]]
    meta = await store.items([i for i, _s, _x in fused])
    reasons = found_lists.reasons if source == "item-cf" else {}
    because_meta = await store.items([b for b in reasons.values() if b]) if reasons else {}
    items = [
        schemas.RecommendedItem(
            item_id=item,
            score=score,
            match=blend.match(1.0 / (blend.RRF_K + rank), {source: 1.0}),
            source=source,
            sources=srcs,
            because_item=reasons.get(item),
            because_title=because_meta[reasons[item]].title
            if reasons.get(item) in because_meta
            else None,
            title=meta[item].title if item in meta else None,
            genres=meta[item].attributes.get("genres", []) if item in meta else [],
        )
        for rank, (item, score, srcs) in enumerate(fused, start=1)
    ]
    computed_at = found_lists.computed_at if source != "popular" else None
    body = schemas.Recommendations(
        user_id=user_id, items=items, computed_at=computed_at, source=source
    )
    return Response(body.model_dump_json(), media_type=JSON)


@router.get("/{user_id}/neighbors", response_model=list[schemas.Neighbour])
async def neighbours(
    user_id: UserId, settings: Settings, store: Store, k: int = Query(20, ge=1, le=1000)
) -> list[schemas.Neighbour]:
    rows = await store.neighbours(user_id, min(k, settings.max_k))
    return [schemas.Neighbour(user_id=v, similarity=s, support=n) for v, s, n in rows]


@router.get("/{user_id}/similarity/{other_id}", response_model=schemas.Similarity)
async def similarity(
    user_id: UserId, other_id: OtherId, settings: Settings, store: Store
) -> schemas.Similarity:
    """Both figures: the raw Pearson correlation and the similarity the neighbourhoods
    rank by (zero below the minimum support, shrunk by sim·n/(n+λ))."""
    raw, support = await store.similarity(user_id, other_id)
    c = settings.user_cf
    weighted = float(significance(raw, support, c.min_support, c.shrinkage))
    return schemas.Similarity(
        user_id=user_id, other_id=other_id, similarity=weighted, pearson=raw, support=support
    )


@router.get("/{user_id}/predict/{item_id}", response_model=schemas.PredictionOut)
async def predict(
    request: Request, user_id: UserId, item_id: ItemId, settings: Settings, store: Store
) -> schemas.PredictionOut:
    bounds = (settings.limits.rating_min, settings.limits.rating_max)
    result = await request.app.state.predictor.predict(user_id, item_id)
    learned = await store.embedding_prediction(user_id, item_id, bounds)
    user_cf = None if result is None else result.value
    stacked = blend.stack({"embedding": learned, "user-cf": user_cf}, blend.RATING_WEIGHTS, bounds)
    used = [
        schemas.UsedNeighbour(user_id=v, similarity=s, rating=r)
        for v, s, r in (result.neighbours if result is not None else [])
    ]
    hidden = settings.hide_neighbour_ratings
    return schemas.PredictionOut(
        user_id=user_id,
        item_id=item_id,
        prediction=user_cf,
        baseline=None if result is None else result.base,
        neighbours=[] if hidden else used,
        neighbour_count=len(used),
        neighbours_hidden=hidden,
        embedding=learned,
        blend=stacked,
    )


def _aggregate(ratings: list[float], hidden: bool) -> tuple[float | None, str]:
    """Neighbours who rated the item, in numbers: (their mean, the sentence)."""
    n = len(ratings)
    if n == 0:
        return None, "no similar user rated it"
    who = "1 similar user" if n == 1 else f"{n} similar users"
    if hidden and n < MIN_GROUP:
        return None, f"{who} rated it"
    mean = sum(ratings) / n
    if hidden:
        mean = round(mean, 1)
    return mean, f"{who} rated it, mean {mean:.1f}"


@router.get("/{user_id}/recommendations/{item_id}/because", response_model=schemas.Because)
async def because(
    user_id: UserId, item_id: ItemId, settings: Settings, store: Store
) -> schemas.Because:
    """Why the item is recommended: the sources that list it, the recent rating that put
    it on the item-to-item list, and the neighbours behind its user-based prediction:
    each with their rating, or (``hide_neighbour_ratings``) only how many and their mean."""
    found = await store.sources(user_id, max(settings.max_n, blend.DEPTH))
    ranks = {s: [i for i, _x in ranked] for s, ranked in found.lists.items()}
    listed_by = [s for s in blend.SOURCES if item_id in ranks[s]]
    rows = (await store.because(user_id, item_id, settings.max_k))[: settings.predict_k]
    reason = found.reasons.get(item_id) if "item-cf" in listed_by else None
    meta = await store.items([reason]) if reason else {}
    hidden = settings.hide_neighbour_ratings
    mean, summary = _aggregate([r for _v, _s, r, _m in rows], hidden)
    contributions = [
        schemas.Contribution(user_id=v, similarity=s, rating=r, mean=m, contribution=s * (r - m))
        for v, s, r, m in rows
    ]
    return schemas.Because(
        user_id=user_id,
        item_id=item_id,
        on_list=bool(listed_by),
        score=dict(found.lists["user-cf"]).get(item_id),
        sources=listed_by,
        because_item=reason,
        because_title=meta[reason].title if reason in meta else None,
        neighbours=[] if hidden else contributions,
        neighbours_hidden=hidden,
        similar_raters=len(rows),
        similar_mean=mean,
        summary=summary,
    )
