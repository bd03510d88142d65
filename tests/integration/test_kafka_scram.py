"""SASL_SSL with SCRAM-SHA-512 against a real KRaft broker of the test's own: streamrec's
librdkafka settings (producer, consumer, admin) and the Faust worker's credentials
round-trip records; a wrong password, a wrong CA and a plaintext client are refused."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

from streams.faust_app import credentials
from streams.producer import EventProducer
from streams.schemas.ratings import RatingEvent, parse_rating
from streams.settings import EventLimits, KafkaConnection, WorkerSettings
from streams.stack.ephemeral import make_tls_files
from streams.stack.scram_broker import ScramBroker
from streams.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

USER, PASSWORD = "streamrec", "right-password"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scram-broker")
    tls = make_tls_files(folder / "certs", name="broker")
    stranger = make_tls_files(folder / "other", name="stranger")
    with ScramBroker(folder / "kafka", tls, {USER: PASSWORD}) as running:
        yield running, tls, stranger


def connection(broker, password: str = PASSWORD, cafile=None) -> KafkaConnection:
    running, tls, _stranger = broker
    return KafkaConnection(
        bootstrap_servers=running.bootstrap,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=USER,
        sasl_password=password,
        ssl_cafile=str(cafile or tls.ca),
    )


def _refused(kafka: KafkaConnection) -> str:
    """The client's failure and the errors librdkafka reported on the way (the reason)."""
    errors: list[str] = []
    config = {**kafka.confluent_config(), "socket.timeout.ms": 3000, "log_level": 0}
    admin = AdminClient({**config, "error_cb": lambda error: errors.append(str(error))})
    with pytest.raises(KafkaException) as failure:
        admin.list_topics(timeout=8)
    admin.poll(1)  # serves error_cb
    return " | ".join([str(failure.value), *errors])


def test_streamrec_confluent_settings_round_trip_a_record(broker):
    kafka = connection(broker)
    topic = f"scram-{uuid.uuid4().hex[:8]}"
    assert create_topics(kafka, [TopicSpec(topic, 1, 1, {})]) == {topic: "created"}
    event = RatingEvent("u-scram", "i-scram", 4.5, 1.7e9, event_id="e1")
    with EventProducer(kafka) as producer:
        producer.send_rating(topic, event)
    assert producer.report.failed == 0
    consumer = Consumer(
        {**kafka.confluent_config(), "group.id": topic, "auto.offset.reset": "earliest"}
    )
    try:
        consumer.subscribe([topic])
        message = None
        for _ in range(30):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None
        got = parse_rating(message.value(), EventLimits())
        assert (got.user_id, got.item_id, got.rating) == ("u-scram", "i-scram", 4.5)
    finally:
        consumer.close()


def test_a_wrong_password_is_refused(broker):
    reason = _refused(connection(broker, password="wrong-password"))
    assert "SASL authentication error: Authentication failed" in reason


def test_a_broker_certificate_from_another_ca_is_refused(broker):
    _running, _tls, stranger = broker
    reason = _refused(connection(broker, cafile=stranger.ca))
    assert "certificate verify failed" in reason


def test_a_plaintext_client_gets_nothing(broker):
    running, _tls, _stranger = broker
    _refused(KafkaConnection(bootstrap_servers=running.bootstrap))


async def _faust_round_trip(kafka: KafkaConnection, topic: str) -> bytes:
    """aiokafka configured exactly as Faust configures it from ``credentials()``."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    auth = credentials_to_aiokafka_auth(credentials(WorkerSettings(kafka=kafka)))
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, **auth)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"through-faust", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=topic,
        **auth,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        return bytes(record.value or b"")
    finally:
        await consumer.stop()


def test_the_faust_worker_credentials_round_trip_a_record(broker):
    kafka = connection(broker)
    topic = f"scram-faust-{uuid.uuid4().hex[:8]}"
    create_topics(kafka, [TopicSpec(topic, 1, 1, {})])
    assert asyncio.run(_faust_round_trip(kafka, topic)) == b"through-faust"


def test_the_faust_worker_credentials_with_a_wrong_password_are_refused(broker):
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    kafka = connection(broker, password="wrong-password")

    async def connect() -> None:
        auth = credentials_to_aiokafka_auth(credentials(WorkerSettings(kafka=kafka)))
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap_servers, request_timeout_ms=8000, **auth
        )
        try:
            await producer.start()
        finally:
            await producer.stop()

    with pytest.raises(KafkaError):
        asyncio.run(connect())
