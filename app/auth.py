"""Who may write: the ``X-API-Key`` check of ``POST /v1/ratings``.

Writes are closed unless the operator set a key or asked for anonymous writes. The
header is compared as raw bytes: a header's bytes are whatever the client sent (not
necessarily ASCII), and ``secrets.compare_digest`` refuses non-ASCII ``str``.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

from app.deps import Settings

HEADER = "X-API-Key"
# documents the scheme in the OpenAPI spec; the check below reads the raw header itself
_scheme = APIKeyHeader(name=HEADER, auto_error=False, description="the reader's STREAMREC_API_KEY")

CLOSED = (
    "writes are closed: the operator must set STREAMREC_API_KEY (clients then send it in "
    "X-API-Key), or STREAMREC_ALLOW_ANONYMOUS_WRITES=true for a local demo"
)


def _header_values(request: Request) -> list[bytes]:
    wanted = HEADER.lower().encode()
    return [value for name, value in request.scope["headers"] if name.lower() == wanted]


async def require_writer(
    request: Request, settings: Settings, _documented: Annotated[str | None, Depends(_scheme)]
) -> None:
    """401 for a missing, empty, repeated or wrong key; 403 when writes are closed."""
    expected = settings.api_key
    if expected is None:
        if settings.allow_anonymous_writes:
            return
        raise HTTPException(403, CLOSED)
    sent = _header_values(request)
    if not sent:
        raise HTTPException(401, f"the {HEADER} header is required to write")
    if len(sent) > 1:
        raise HTTPException(401, f"send the {HEADER} header once")
    key = sent[0].strip()
    if not key:
        raise HTTPException(401, f"the {HEADER} header is empty")
    if not secrets.compare_digest(key, expected.get_secret_value().encode()):
        raise HTTPException(401, f"the {HEADER} header does not hold a valid key")


Writer = Annotated[None, Depends(require_writer)]
