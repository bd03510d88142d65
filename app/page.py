"""The live page at ``/`` and the headers that keep it (and every answer) from being
turned against its viewers.

Ids and titles on the page come from anyone who can post a rating or describe an item,
so the page builds its DOM with ``textContent`` only, and a strict
Content-Security-Policy allows no script but the page's own: the inline ``<script>``
and ``<style>`` are allowed by hash, computed here from the file, so an injected
attribute handler or ``<script>`` would not run even if an escaping bug came back.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

router = APIRouter(include_in_schema=False)

# sent with every answer: no MIME sniffing (a JSON body is never run as a script or
# page), no Referer with user ids leaving for other sites
COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def _hashes(page: str, tag: str) -> str:
    bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
    digests = [base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in bodies]
    return " ".join(f"'sha256-{d}'" for d in digests) or "'none'"


def content_security_policy(page: str) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {_hashes(page, 'script')}",
            f"style-src {_hashes(page, 'style')}",
            "connect-src 'self'",
            "img-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
        ]
    )


PAGE = resources.files("app").joinpath("static/index.html").read_text()
PAGE_HEADERS = {
    "Content-Security-Policy": content_security_policy(PAGE),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@router.get("/")
async def index() -> HTMLResponse:
    return HTMLResponse(PAGE, headers=PAGE_HEADERS)


class CommonHeaders:
    """Pure ASGI middleware adding :data:`COMMON_HEADERS` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *COMMON_HEADERS]
            await send(message)

        await self.app(scope, receive, add)
