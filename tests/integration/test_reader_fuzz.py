"""Every route of the OpenAPI spec, fed generated input by schemathesis: never a 5xx.
The write route is fuzzed with the API key, so that generated bodies reach the parser
and the producer (a topic of the test's own), in both generation modes."""

import uuid
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from app.main import create_app
from app.settings import ReaderSettings
from streams.settings import KafkaConnection, RedisConnection, TopicSettings
from streams.topics import TopicSpec, create_topics, delete_topics

pytestmark = pytest.mark.integration
KEY = "fuzz-key"


@pytest.fixture(scope="module")
def reader_app(services):
    kafka = KafkaConnection(bootstrap_servers=services.kafka)
    topic = f"fuzz-{uuid.uuid4().hex[:10]}.ratings"  # nobody consumes it
    create_topics(kafka, [TopicSpec(topic, 1, 1, {})])
    reader = ReaderSettings(
        kafka=kafka,
        redis=RedisConnection(url=services.redis.rsplit("/", 1)[0] + "/4"),
        topics=TopicSettings(ratings=topic),
        api_key=KEY,
    )
    yield create_app(reader)
    delete_topics(kafka, [topic])


def test_no_generated_request_gets_a_server_error(reader_app):
    from fastapi.testclient import TestClient

    with TestClient(reader_app):  # runs the lifespan: Redis pool, producer
        schema = schemathesis.openapi.from_asgi("/openapi.json", reader_app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 9  # every documented route is exercised
        for operation in operations:
            _fuzz(operation, GenerationMode.POSITIVE, Counter())


def test_fuzzed_writes_with_the_key_reach_the_parser(reader_app):
    """Bodies from the documented schema and bodies that break it, each with the valid
    key: accepted (202) or refused with a 4xx, never a 5xx, and never stopped at 401."""
    from fastapi.testclient import TestClient

    with TestClient(reader_app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", reader_app)
        write = schema["/v1/ratings"]["POST"]
        statuses: Counter[int] = Counter()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(write, mode, statuses, examples=150)
    assert statuses[202] > 0 and statuses[422] > 0, statuses
    assert 401 not in statuses and 403 not in statuses, statuses


def _fuzz(operation, mode, statuses: Counter, examples: int = 40) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    def call(case):
        case.headers = {**(case.headers or {}), "X-API-Key": KEY}  # over any generated one
        response = case.call()
        statuses[response.status_code] += 1
        assert response.status_code < 500, (
            f"{operation.method.upper()} {case.formatted_path}: {response.text}"
        )

    call()
