"""``POST /v1/ratings``: one event or a batch, validated like the stream, produced to Kafka.

The body is read and parsed here rather than by FastAPI (``app.body``): capped in
size, and every malformed body a 4xx, never a 500. A refused request is logged once,
with counts and the first reasons, whatever the number of bad events in it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from app import schemas
from app.auth import Writer
from app.body import BodyRefused, check_media_type, parse_json, read_capped
from app.deps import Settings
from streams.schemas.errors import InvalidEvent, Reason
from streams.schemas.ratings import RatingEvent, parse_rating

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["ratings"])

LISTED_ERRORS = 50  # a 422 lists this many invalid events, then counts the rest
LOGGED_REASONS = 3

REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not UTF-8 JSON, or nested too deeply"},
    401: {"description": "X-API-Key missing, empty or wrong"},
    403: {"description": "writes are closed: no key configured"},
    413: {"description": "the body or the batch is over its cap"},
    415: {"description": "the body is not application/json"},
    422: {"description": "invalid events, each with its reason; nothing produced"},
    503: {"description": "Kafka did not accept the events: retry"},
}


def _refused(status: int, events: int, reasons: list[dict[str, Any]], invalid: int = 0) -> None:
    fields = {"status": status, "events": events, "invalid": invalid, "reasons": reasons}
    log.info("write refused", extra={"fields": fields})


def _events_of(value: Any, max_batch: int) -> list[Any]:
    """The batch as a list, its size checked before any event is validated."""
    raw = value if isinstance(value, list) else [value]
    if not raw:
        raise BodyRefused(422, "the batch is empty", "empty_batch")
    if len(raw) > max_batch:
        detail = f"the batch has {len(raw)} events, at most {max_batch} allowed"
        raise BodyRefused(413, detail, "batch_too_large", events=len(raw))
    return raw


@router.post(
    "/ratings",
    status_code=202,
    response_model=schemas.Accepted,
    responses=REFUSALS,
    openapi_extra={"requestBody": schemas.RATINGS_BODY},
)
async def post_ratings(request: Request, settings: Settings, _writer: Writer) -> Any:
    """Accepts ``{"user_id", "item_id", "rating", "ts"?, "op"?, "event_id"?}`` or a list of
    them. ``ts`` (epoch seconds) defaults to now and ``event_id`` to a new UUID. Nothing is
    produced unless every event is valid; a 422 lists the invalid events with reasons."""
    try:
        check_media_type(request)
        body = await read_capped(request, settings.max_body_bytes)
        raw = _events_of(parse_json(body), settings.max_batch)
    except BodyRefused as refused:
        _refused(refused.status_code, refused.events, [{"reason": refused.reason}])
        raise
    events: list[RatingEvent] = []
    problems: list[dict[str, Any]] = []
    now = time.time()
    for index, item in enumerate(raw):
        try:
            if not isinstance(item, dict):
                kind = type(item).__name__ if item is not None else "null"
                raise InvalidEvent(Reason.NOT_OBJECT, f"expected a JSON object, got {kind}")
            candidate = {"ts": now, **item}
            candidate.setdefault("event_id", uuid.uuid4().hex)
            events.append(parse_rating(candidate, settings.limits, received_at=now))
        except InvalidEvent as error:
            problems.append({"index": index, "reason": error.reason.value, "detail": error.detail})
    if problems:
        first = [{"index": p["index"], "reason": p["reason"]} for p in problems[:LOGGED_REASONS]]
        _refused(422, len(raw), first, invalid=len(problems))
        answer = {
            "detail": f"{len(problems)} of {len(raw)} events invalid, nothing produced",
            "invalid": len(problems),
            "errors": problems[:LISTED_ERRORS],
        }
        return JSONResponse(answer, 422)
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
