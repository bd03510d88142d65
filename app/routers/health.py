"""Liveness (the process answers) and readiness, for probes and load balancers.

Readiness reports Redis and Kafka. Only Redis decides the status code: every read is
served from Redis, so a reader whose brokers are away still answers its reads and stays
in the load balancer ("degraded", 200) while its writes answer 503; without Redis it
can serve nothing ("unavailable", 503)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    body = {"redis": "ok", "kafka": "ok"}
    try:
        await state.redis.ping()
    except Exception as exc:  # any Redis failure means "not ready", never a 5xx crash
        body["redis"] = str(exc) or type(exc).__name__
    try:
        problem = await state.producer.reachable(state.settings.topics.ratings)
    except Exception as exc:  # same for Kafka
        problem = str(exc) or type(exc).__name__
    if problem is not None:
        body["kafka"] = problem
    if body["redis"] != "ok":
        return JSONResponse({"status": "unavailable", **body}, status_code=503)
    return JSONResponse({"status": "ready" if problem is None else "degraded", **body})
