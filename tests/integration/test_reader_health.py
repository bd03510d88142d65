import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import ReaderSettings
from streams.settings import KafkaConnection, RedisConnection, TopicSettings
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def test_health_and_readiness_against_real_redis_and_kafka(services, topics):
    settings = ReaderSettings(
        redis=RedisConnection(url=services.redis),
        kafka=KafkaConnection(bootstrap_servers=services.kafka),
        topics=topics,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready", "redis": "ok", "kafka": "ok"}


@pytest.mark.timeout(90)  # librdkafka's own default would hold the request for 300 s
def test_without_kafka_reads_stay_ready_and_writes_answer_503_in_bounded_time(services):
    """No broker listens: the ingest gives up after its timeout with a 503 and a message
    (it used to wait out librdkafka's five minutes), /readyz names Kafka and stays 200
    (reads are served from Redis)."""
    settings = ReaderSettings(
        redis=RedisConnection(url=services.redis),
        kafka=KafkaConnection(bootstrap_servers=f"127.0.0.1:{free_port()}"),
        topics=TopicSettings(ratings="nowhere.ratings"),
        allow_anonymous_writes=True,
        produce_timeout_s=1.5,
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded" and ready.json()["kafka"] != "ok"
        answer = client.post("/v1/ratings", json={"user_id": "u", "item_id": "i", "rating": 4})
        assert answer.status_code == 503, answer.text
        assert "Kafka did not accept the events" in answer.json()["detail"]
        assert "timed out" in answer.json()["detail"].lower()


def test_readiness_fails_cleanly_when_redis_is_away():
    settings = ReaderSettings(redis=RedisConnection(url="redis://127.0.0.1:1/0"))
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["status"] == "unavailable"
