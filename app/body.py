"""Reading a write request's body ourselves: a size cap enforced while reading, and a
JSON parse whose every failure is a 4xx with a message (FastAPI's own body handling
answers 500 for some of them, and reads without a bound).

The messages never echo the body: at most a short, cut quotation of the parser's
complaint.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request

JSON_TYPES = ("application/json",)
_DETAIL_LIMIT = 160


class BodyRefused(HTTPException):
    """A request refused for its body as a whole (before any event was looked at)."""

    def __init__(self, status: int, detail: str, reason: str, events: int = 0) -> None:
        super().__init__(status, detail)
        self.reason = reason
        self.events = events  # how many events the body held, when that is known


def short(text: str, limit: int = _DETAIL_LIMIT) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text)} characters)"


def check_media_type(request: Request) -> None:
    """JSON only: a cross-site HTML form cannot send ``application/json`` without a
    CORS preflight, which this API never grants."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES:
        shown = short(media, 60) or "none"
        raise BodyRefused(415, f"send the body as application/json (got {shown})", "media_type")


async def read_capped(request: Request, cap: int) -> bytes:
    """The body, or 413 as soon as it is known to exceed ``cap`` bytes: from
    Content-Length before reading, else while reading (chunked uploads)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        declared = declared.strip()
        if not declared.isdigit() or len(declared) > 18:
            raise BodyRefused(400, "Content-Length is not a byte count", "bad_length")
        if int(declared) > cap:
            raise BodyRefused(
                413, f"the body has {int(declared)} bytes, at most {cap} allowed", "too_large"
            )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise BodyRefused(413, f"the body is over {cap} bytes", "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """Strict UTF-8 JSON; every failure a 400 that names the problem."""
    if not body.strip():
        raise BodyRefused(400, "the body is empty: send a JSON object or a list of them", "empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRefused(
            400, f"the body is not valid UTF-8 (at byte {exc.start})", "not_utf8"
        ) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise BodyRefused(400, "the JSON is nested too deeply", "too_deep") from None
    except ValueError as exc:  # JSONDecodeError, and integers over Python's digit limit
        raise BodyRefused(400, f"the body is not JSON: {short(str(exc))}", "not_json") from None
