"""``POST /v1/ratings``: one event or a batch, validated like the stream, produced to Kafka."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from app import schemas
from app.deps import settings_of
from streams.schemas.errors import InvalidEvent
from streams.schemas.ratings import parse_rating

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["ratings"])


def _authorise(request: Request, api_key: str | None) -> None:
    expected = settings_of(request).api_key
    if expected is None:
        return
    if api_key is None or not secrets.compare_digest(api_key, expected.get_secret_value()):
        raise HTTPException(401, "a valid X-API-Key header is required to write")


@router.post("/ratings", status_code=202, response_model=schemas.Accepted)
async def post_ratings(
    request: Request,
    body: Annotated[dict[str, Any] | list[dict[str, Any]], Body()],
    x_api_key: Annotated[str | None, Header()] = None,
) -> Any:
    """Accepts ``{"user_id", "item_id", "rating", "ts"?, "op"?, "event_id"?}`` or a list of
    them. ``ts`` defaults to now and ``event_id`` to a new UUID. Nothing is produced unless
    every event is valid; a 422 lists each invalid event with its reason."""
    _authorise(request, x_api_key)
    settings = settings_of(request)
    raw = body if isinstance(body, list) else [body]
    if not raw:
        raise HTTPException(422, "the batch is empty")
    if len(raw) > settings.max_batch:
        raise HTTPException(422, f"at most {settings.max_batch} events per request")
    events, problems = [], []
    now = time.time()
    for index, item in enumerate(raw):
        candidate = {"ts": now, **item}
        candidate.setdefault("event_id", uuid.uuid4().hex)
        try:
            events.append(parse_rating(candidate, settings.limits))
        except InvalidEvent as error:
            problems.append({"index": index, "reason": error.reason.value, "detail": error.detail})
            fields = {"event_id": candidate.get("event_id"), "reason": error.reason.value}
            log.info("rejected", extra={"fields": fields | {"detail": error.detail}})
    if problems:
        return JSONResponse({"detail": "invalid events, nothing produced", "errors": problems}, 422)
    producer = request.app.state.producer
    try:
        await asyncio.gather(
            *(producer.send(settings.topics.ratings, e.key, e.encode()) for e in events)
        )
    except Exception as exc:  # the broker said no: tell the client to retry
        ids = [e.event_id for e in events]
        log.error("not produced", extra={"fields": {"event_ids": ids, "reason": str(exc)}})
        raise HTTPException(503, f"Kafka did not accept the events: {exc}") from exc
    return schemas.Accepted(accepted=len(events), event_ids=[e.event_id or "" for e in events])
