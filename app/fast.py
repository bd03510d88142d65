"""The recommendations route's common form, answered before FastAPI's request machinery.

``GET /v1/users/{id}/recommendations`` with at most ``n`` and ``source=blend`` is what a
frontend asks on every page view, and its answer is one Redis read of bytes stored ready
to serve. FastAPI's routing and dependency solving cost more than that read (py-spy: 39%
of the route's samples against 13% for the read, docs/benchmarks.md), so this layer
answers that form itself with the route's own function (``served_body``) and passes
everything else on unchanged: another source, another parameter, an id or an ``n`` the
route would refuse, a store no fuser has written yet. A test sends the same requests
with the layer on and off and compares every byte.
"""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.deps import id_problem
from app.routers.users import JSON, N_DEFAULT, N_MAX, router, served_body

PREFIX, SUFFIX = "/v1/users/", "/recommendations"
TEMPLATE = PREFIX + "{user_id}" + SUFFIX
ROUTE = next(r for r in router.routes if getattr(r, "path", "") == TEMPLATE)


def redis_unavailable(exc: RedisError) -> JSONResponse:
    """The answer to any request that found Redis unavailable (503, never a 500)."""
    return JSONResponse({"detail": f"Redis is unavailable: {exc}"}, status_code=503)


def asked_n(query: bytes) -> int | None:
    """``n`` from a query string of ``n=<digits>`` and ``source=blend`` at most once each
    (the route's default 10 if absent); None for anything else: FastAPI answers it."""
    n, seen = N_DEFAULT, set()
    for part in query.split(b"&") if query else ():
        name, _eq, value = part.partition(b"=")
        if name in seen or not _eq:
            return None
        seen.add(name)
        if name == b"source" and value == b"blend":
            continue
        if name != b"n" or not value.isdigit() or value[0] == 48 or len(value) > 4:
            return None  # not canonical digits (48 is "0"): parsing stays FastAPI's
        n = int(value)
        if n > N_MAX:
            return None
    return n


def asked_user(scope: Scope) -> str | None:
    path: str = scope["path"]
    if scope.get("root_path") or not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    user = path[len(PREFIX) : -len(SUFFIX)]
    return user if user and "/" not in user else None


class FastRecommendations:
    """Pure ASGI: answers the common form of the recommendations route (module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        user = asked_user(scope)
        n = asked_n(scope["query_string"]) if user is not None else None
        state = scope["app"].state
        settings = state.settings
        if n is None or user is None or id_problem(user, "", settings.limits.max_id_length):
            await self.app(scope, receive, send)
            return
        response: Response
        try:
            body = await served_body(state.store, user, min(n, settings.max_n))
        except RedisError as exc:
            body, response = None, redis_unavailable(exc)
        else:
            if body is None:  # no fuser has run yet: the route computes the list
                await self.app(scope, receive, send)
                return
            response = Response(body, media_type=JSON)
        scope["route"] = ROUTE  # what the route's match sets: the metrics label
        await response(scope, receive, send)
