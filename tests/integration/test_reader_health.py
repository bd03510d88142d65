import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import ReaderSettings
from streams.settings import RedisConnection

pytestmark = pytest.mark.integration


def test_health_and_readiness_against_real_redis(services):
    settings = ReaderSettings(redis=RedisConnection(url=services.redis))
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}


def test_readiness_fails_cleanly_when_redis_is_away():
    settings = ReaderSettings(redis=RedisConnection(url="redis://127.0.0.1:1/0"))
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["status"] == "unavailable"
