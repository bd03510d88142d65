"""``create_app(settings)``: the reader's FastAPI application; one router per resource."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from app.routers import health
from app.settings import ReaderSettings


def create_app(settings: ReaderSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis.url,
            max_connections=settings.redis_pool_size,
            socket_timeout=2,
            **settings.redis.client_kwargs(),
        )
        app.state.redis = aioredis.Redis(connection_pool=pool)
        try:
            yield
        finally:
            await app.state.redis.aclose()

    app = FastAPI(title="streamrec reader", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.include_router(health.router)
    return app
