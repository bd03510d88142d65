"""``create_app(settings)``: the reader's FastAPI application; one router per resource."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.requests import Request

from app import metrics, multiplex, page
from app.fast import FastRecommendations, redis_unavailable
from app.ingest import AsyncProducer
from app.routers import health, items, ratings, users
from app.settings import ReaderSettings
from app.store import ReaderStore
from streams.state.clients import connect_cluster
from streams.state.predict import Predictor
from streams.state.redis_checks import check_eviction
from streams.state.usercf import Store


def create_app(settings: ReaderSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = settings.redis
        client: Any
        if redis.cluster:  # a pool per node, unbounded: past a bound it fails, never waits
            client = connect_cluster(redis.url, socket_timeout=2, **redis.client_kwargs())
        else:
            pool = aioredis.BlockingConnectionPool.from_url(
                redis.url,
                max_connections=settings.redis_pool_size,
                socket_timeout=2,
                **redis.client_kwargs(),
            )
            client = aioredis.Redis(connection_pool=pool)
        await check_eviction(client, "reader")  # an evicting Redis could drop fences
        app.state.redis = client
        multiplexed = None
        if multiplex.supported(redis.url) and not redis.cluster:  # the hot route's one read
            password = redis.password.get_secret_value() if redis.password else None
            multiplexed = multiplex.Multiplexed(
                redis.url, password, redis.username, redis.ssl_ca_certs, timeout_s=2.0
            )
        app.state.store = ReaderStore(client, multiplexed=multiplexed)
        bounds = (settings.limits.rating_min, settings.limits.rating_max)
        c = settings.user_cf
        app.state.predictor = Predictor(
            Store(client), settings.predict_k, c.min_support, bounds, c.shrinkage, c.damping
        )
        app.state.producer = AsyncProducer(settings.kafka, settings.produce_timeout_s)
        try:
            yield
        finally:
            if multiplexed is not None:
                await multiplexed.close()
            app.state.producer.close()
            await client.aclose()

    app = FastAPI(title="streamrec reader", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    if settings.fast_route:  # innermost: counted and given the common headers as the route
        app.add_middleware(FastRecommendations)
    app.add_middleware(metrics.RequestMetrics)
    app.add_middleware(page.CommonHeaders)
    routers = (health.router, metrics.router, users.router, items.router, ratings.router)
    for router in (*routers, page.router):
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    @app.exception_handler(RedisError)
    async def redis_down(_request: Request, exc: RedisError) -> JSONResponse:
        return redis_unavailable(exc)

    return app


def app_from_environment() -> FastAPI:
    """The factory ``uvicorn --factory`` imports in each worker process (``STREAMREC_*``)."""
    from streams.settings import load_settings

    return create_app(load_settings(ReaderSettings))
