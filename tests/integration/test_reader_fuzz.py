"""Every route of the OpenAPI spec, fed generated input by schemathesis: never a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from app.main import create_app
from app.settings import ReaderSettings
from streams.settings import KafkaConnection, RedisConnection, TopicSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reader_app(services):
    reader = ReaderSettings(
        kafka=KafkaConnection(bootstrap_servers=services.kafka),
        redis=RedisConnection(url=services.redis.rsplit("/", 1)[0] + "/4"),
        topics=TopicSettings(ratings="fuzz.ratings"),  # a topic nobody consumes
        api_key="fuzz-key",  # generated writes are refused before they reach Kafka
    )
    return create_app(reader)


def test_no_generated_request_gets_a_server_error(reader_app):
    from fastapi.testclient import TestClient

    with TestClient(reader_app):  # runs the lifespan: Redis pool, producer
        schema = schemathesis.openapi.from_asgi("/openapi.json", reader_app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 9  # every documented route is exercised
        for operation in operations:
            _fuzz(operation)


def _fuzz(operation) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def call(case):
        response = case.call()
        assert response.status_code < 500, (
            f"{operation.method.upper()} {case.formatted_path}: {response.text}"
        )

    call()
