"""SASL_SSL with SCRAM-SHA-512 against a real KRaft broker of the test's own: streamrec's
librdkafka settings (producer, consumer, admin) and the Faust worker's credentials
round-trip records; a wrong password, a wrong CA and a plaintext client are refused."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.producer import EventProducer
from streams.schemas.ratings import RatingEvent, parse_rating
from streams.settings import (
    EventLimits,
    KafkaConnection,
    RedisConnection,
    TopicSettings,
    WorkerSettings,
)
from streams.stack.ephemeral import RedisServer, make_tls_files
from streams.stack.scram_broker import ScramBroker
from streams.state.redis_checks import WORKER_ACL, acl_rule
from streams.topics import TopicSpec, create_topics, topic_specs
from streams.worker.app import credentials
from tests.conftest import worker_env
from tests.integration.test_engine_exact import assert_state_equals_reference

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


def test_a_worker_runs_over_sasl_ssl_kafka_and_tls_redis_with_acl_users(broker, tmp_path):
    """The whole path secured at once: ``streamrec worker`` with SCRAM over TLS to Kafka and
    its ACL user over TLS to Redis; the state equals the reference."""
    _running, tls, _stranger = broker
    kafka = connection(broker)
    acl = ["user default on >admin-pw ~* &* +@all", acl_rule("w", "w-pw", WORKER_ACL)]
    tag = uuid.uuid4().hex[:8]
    with RedisServer(tmp_path / "redis", acl=acl, tls=tls) as redis_server:
        redis_tls = RedisConnection(
            url=redis_server.url, username="w", password="w-pw", ssl_ca_certs=str(tls.ca)
        )
        settings = WorkerSettings(
            app_id=f"scram-{tag}",
            kafka=kafka,
            redis=redis_tls,
            topics=TopicSettings(
                ratings=f"s{tag}.ratings",
                items=f"s{tag}.items",
                dlq=f"s{tag}.dlq",
                ratings_partitions=2,
            ),
            metrics_port=0,
            data_dir=str(tmp_path / "worker"),
            hybrid=False,
        )
        create_topics(kafka, topic_specs(settings.topics))
        env = worker_env(settings) | {
            "STREAMREC_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "STREAMREC_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
            "STREAMREC_KAFKA__SASL_USERNAME": USER,
            "STREAMREC_KAFKA__SASL_PASSWORD": PASSWORD,
            "STREAMREC_KAFKA__SSL_CAFILE": str(tls.ca),
            "STREAMREC_REDIS__USERNAME": "w",
            "STREAMREC_REDIS__PASSWORD": "w-pw",
            "STREAMREC_REDIS__SSL_CA_CERTS": str(tls.ca),
        }
        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"], env=env,
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        try:
            events = list(generate(SyntheticSpec(events=600, users=30, items=20)))
            with EventProducer(kafka) as producer:
                for event in events:
                    producer.send_rating(settings.topics.ratings, event)
            assert wait_idle(settings, timeout=180), "the worker did not drain the stream"
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            admin_url = f"rediss://default:admin-pw@127.0.0.1:{redis_server.port}/0"
            check = RedisConnection(url=admin_url, ssl_ca_certs=str(tls.ca))
            assert_state_equals_reference(settings.model_copy(update={"redis": check}), events)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
            log.close()
