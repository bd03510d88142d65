"""Hostile bodies and hostile keys on ``POST /v1/ratings``: each class answers the 4xx it
should, with a message, and never a 5xx (the server's exceptions become responses here,
as they would for a real client)."""

import json
import logging
import uuid

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import ReaderSettings
from streams.settings import KafkaConnection, RedisConnection
from streams.topics import TopicSpec, create_topics, delete_topics

pytestmark = pytest.mark.integration
KEY = "hostile-key"
GOOD = {"user_id": "u1", "item_id": "i1", "rating": 4}
JSON = {"content-type": "application/json"}
MAX_BATCH = 5


def reader_settings(services, topic: str, **overrides) -> ReaderSettings:
    return ReaderSettings(
        kafka=KafkaConnection(bootstrap_servers=services.kafka),
        redis=RedisConnection(url=services.redis.rsplit("/", 1)[0] + "/4"),
        topics={"ratings": topic},
        **overrides,
    )


@pytest.fixture(scope="module")
def topic(services):
    name = f"hostile-{uuid.uuid4().hex[:10]}.ratings"
    kafka = KafkaConnection(bootstrap_servers=services.kafka)
    create_topics(kafka, [TopicSpec(name, 1, 1, {})])
    yield name
    delete_topics(kafka, [name])


@pytest.fixture(scope="module")
def client(services, topic):
    app = create_app(reader_settings(services, topic, api_key=KEY, max_batch=MAX_BATCH))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def post(client, body: bytes | str, key: bytes | str | None = KEY, **headers):
    sent = dict(JSON) | headers
    if key is not None:
        sent["X-API-Key"] = key
    return client.post("/v1/ratings", content=body, headers=sent)


def event(**fields) -> str:
    return json.dumps(GOOD | fields)


DEEP = "[" * 1_000 + "]" * 1_000
HEAD = '{"user_id":"u","item_id":"i",'
HOSTILE_BODIES = [
    # (name, raw body, status, reason in the answer)
    ("millisecond ts", event(ts=1_795_795_000_000), 422, "timestamp_in_milliseconds"),
    ("400-digit rating", HEAD + '"rating":' + "9" * 400 + "}", 422, "not_finite"),
    ("400-digit ts", HEAD + '"rating":4,"ts":' + "1" * 400 + "}", 422, "ts is too large"),
    ("5000-digit rating", HEAD + '"rating":' + "9" * 5_000 + "}", 400, "not JSON"),
    ("null rating", event(rating=None), 422, "missing_field"),
    ("NaN rating", '{"user_id":"u","item_id":"i","rating":NaN}', 422, "not_finite"),
    ("lone surrogate id", '{"user_id":"u","item_id":"\\ud800","rating":4}', 422, "bad_text"),
    ("lone surrogate key", '{"user_id":"u","item_id":"i","rating":4,"\\udfff":1}', 422, "bad_text"),
    ("surrogate as UTF-8", b'{"user_id":"u","item_id":"\xed\xa0\x80","rating":4}', 400, "UTF-8"),
    ("invalid UTF-8", b'{"user_id":"\xff\xfe","item_id":"i","rating":4}', 400, "UTF-8"),
    ("1,000-deep nesting", DEEP, 400, "nested too deeply"),
    ("1,000-deep in an event", HEAD + '"rating":4,"x":' + DEEP + "}", 400, "nested too deeply"),
    ("100,000-deep nesting", "[" * 100_000, 400, "nested too deeply"),
    ("not JSON", "user_id=u&rating=4", 400, "not JSON"),
    ("empty body", "", 400, "empty"),
    ("a JSON string", '"hello"', 422, "not_object"),
    ("null in a batch", f"[{event()}, null]", 422, "not_object"),
    ("empty batch", "[]", 422, "empty"),
    ("id too long", event(item_id="x" * 10_000), 422, "id_too_long"),
    ("ts far in the future", event(ts=4_000_000_000), 422, "timestamp_in_future"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [case[1:] for case in HOSTILE_BODIES],
    ids=[case[0] for case in HOSTILE_BODIES],
)
def test_each_hostile_body_is_a_4xx_with_a_message(client, body, status, reason):
    response = post(client, body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["detail"] and reason in response.text
    assert len(response.content) < 2_000  # nothing echoed whole


def test_an_id_with_a_double_quote_is_a_valid_id(client):
    hostile = 'x" onanimationstart="alert(1)'
    response = post(client, event(item_id=hostile))
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1


def test_a_batch_over_the_cap_is_refused_before_any_event_is_looked_at(client, caplog):
    invalid = [{"rating": None}] * (MAX_BATCH + 1)  # every event bad: the count decides
    with caplog.at_level(logging.INFO, logger="app.routers.ratings"):
        response = post(client, json.dumps(invalid))
    assert response.status_code == 413
    assert f"at most {MAX_BATCH}" in response.json()["detail"]
    [line] = [r for r in caplog.records if r.name == "app.routers.ratings"]
    assert line.fields["events"] == MAX_BATCH + 1 and line.fields["invalid"] == 0
    assert post(client, json.dumps([GOOD] * MAX_BATCH)).status_code == 202


def test_a_body_over_the_cap_is_refused(client):
    big = event(padding="x" * (1 << 20))
    response = post(client, big)
    assert response.status_code == 413 and "at most 1048576" in response.json()["detail"]

    def chunks():  # no Content-Length: the cap holds while reading
        yield b'{"user_id":"u","item_id":"i","rating":4,"p":"'
        for _ in range(300):
            yield b"x" * 4096
        yield b'"}'

    response = post(client, chunks())
    assert response.status_code == 413 and "over 1048576 bytes" in response.json()["detail"]


def test_only_json_is_taken(client):
    response = post(client, event(), **{"content-type": "text/plain"})
    assert response.status_code == 415 and "application/json" in response.json()["detail"]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "required"),
        ("", "empty"),
        ("   ", "empty"),
        ("wrong", "valid key"),
        ("ключ".encode(), "valid key"),
        ("hostile-key\u00e9".encode("latin-1"), "valid key"),
        (b"hostile-key\xff", "valid key"),
    ],
    ids=["missing", "empty", "blank", "wrong", "non-ASCII", "latin-1", "raw byte"],
)
def test_any_bad_key_header_is_a_401_with_a_message(client, key, message):
    response = post(client, event(), key=key)
    assert response.status_code == 401, response.text
    assert message in response.json()["detail"]


def test_the_key_header_once(client):
    response = client.post(
        "/v1/ratings",
        content=event(),
        headers=[("content-type", "application/json"), ("X-API-Key", KEY), ("X-API-Key", KEY)],
    )
    assert response.status_code == 401 and "once" in response.json()["detail"]


def test_writes_are_closed_without_a_key(services, topic):
    with TestClient(create_app(reader_settings(services, topic))) as closed:
        response = post(closed, event(), key=None)
        assert response.status_code == 403
        assert "STREAMREC_API_KEY" in response.json()["detail"]
        assert post(closed, event(), key="anything").status_code == 403
    anonymous = reader_settings(services, topic, allow_anonymous_writes=True)
    with TestClient(create_app(anonymous)) as open_:
        assert post(open_, event(), key=None).status_code == 202


def test_one_log_line_per_refused_request(client, caplog):
    bad = [GOOD | {"rating": 99}] * MAX_BATCH
    with caplog.at_level(logging.INFO, logger="app.routers.ratings"):
        response = post(client, json.dumps(bad))
    assert response.status_code == 422 and response.json()["invalid"] == MAX_BATCH
    lines = [r for r in caplog.records if r.name == "app.routers.ratings"]
    assert len(lines) == 1
    fields = lines[0].fields
    assert fields["events"] == MAX_BATCH and fields["invalid"] == MAX_BATCH
    assert [r["reason"] for r in fields["reasons"]] == ["rating_out_of_range"] * 3


def test_details_never_echo_a_whole_value(client):
    response = post(client, event(op="o" * 50_000))
    assert response.status_code == 422 and "unknown_op" in response.text
    assert len(response.content) < 1_000


def test_the_openapi_document_still_describes_the_body(client):
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/ratings"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"user_id", "item_id", "rating"} <= set(schema["anyOf"][0]["properties"])
    assert operation["security"] == [{"APIKeyHeader": []}]
    assert {"401", "403", "413", "422"} <= set(operation["responses"])
