"""Least privilege on a real redis-server: the worker runs whole under its ACL user, the
reader serves every route under its read-only user and cannot write, and both reach a
TLS-only Redis through ``rediss://`` with the CA (a plain client or a wrong CA fails).
The rules tested are ``streams.state.redis_checks``'s, the ones docs/deploy.md shows."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError

from app.main import create_app
from app.settings import ReaderSettings
from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.producer import EventProducer
from streams.schemas.items import ItemEvent
from streams.settings import KafkaConnection, RedisConnection, TopicSettings, WorkerSettings
from streams.stack.ephemeral import RedisServer, make_tls_files
from streams.state import keys
from streams.state.codecs import decode_ranking
from streams.state.redis_checks import READER_ACL, WORKER_ACL, acl_rule, refuse_evicting_redis
from streams.state.usercf import Store
from streams.topics import create_topics, delete_topics, topic_specs
from tests.conftest import worker_env
from tests.integration.test_engine_exact import assert_state_equals_reference

pytestmark = pytest.mark.integration

ADMIN, READER_PW, WORKER_PW = "admin-pw", "reader-pw", "worker-pw"
USERS = [
    f"user default on >{ADMIN} ~* &* +@all",
    acl_rule("streamrec-reader", READER_PW, READER_ACL),
    acl_rule("streamrec-worker", WORKER_PW, WORKER_ACL),
]
SPEC = SyntheticSpec(events=1_500, users=60, items=40, rerate_share=0.1, delete_share=0.05)
WRITING_SCRIPT = "return redis.call('SET', KEYS[1], 'x')"


def reader_connection(url: str, **extra) -> RedisConnection:
    return RedisConnection(url=url, username="streamrec-reader", password=READER_PW, **extra)


def worker_connection(url: str, **extra) -> RedisConnection:
    return RedisConnection(url=url, username="streamrec-worker", password=WORKER_PW, **extra)


def admin(server: RedisServer, **extra) -> redis.Redis:
    return redis.Redis.from_url(server.url, password=ADMIN, **extra)


@pytest.fixture(scope="module")
def acl_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis-acl"), acl=USERS) as running:
        yield running


@pytest.fixture(scope="module")
def worked(acl_server, services, tmp_path_factory):
    """A real ``streamrec worker`` that ran ratings and a catalogue under its ACL user."""
    tag = f"acl{random.randrange(16**8):08x}"
    settings = WorkerSettings(
        app_id=f"streamrec-test-{tag}",
        kafka=KafkaConnection(bootstrap_servers=services.kafka),
        redis=worker_connection(acl_server.url),
        topics=TopicSettings(
            ratings=f"t{tag}.ratings",
            items=f"t{tag}.items",
            dlq=f"t{tag}.ratings.dlq",
            ratings_partitions=4,
        ),
        metrics_port=0,
        data_dir=str(tmp_path_factory.mktemp("worker-data")),
    )
    specs = topic_specs(settings.topics)
    create_topics(settings.kafka, specs)
    env = worker_env(settings) | {
        "STREAMREC_REDIS__USERNAME": "streamrec-worker",
        "STREAMREC_REDIS__PASSWORD": WORKER_PW,
    }
    log_path = Path(settings.data_dir) / "worker.log"
    log = log_path.open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"], env=env,
        stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    events = list(generate(SPEC))
    try:
        with EventProducer(settings.kafka) as producer:
            for k in range(SPEC.items):
                attributes = {"genres": [f"g{k % 5}", f"g{k % 3}"], "year": 1990 + k % 20}
                producer.send_item(settings.topics.items, ItemEvent(f"i{k}", f"T{k}", attributes))
            for event in events:
                producer.send_rating(settings.topics.ratings, event)
        assert wait_idle(settings, timeout=240), "worker did not drain the stream"
        assert worker.poll() is None, log_path.read_text()[-3000:]
        yield settings, events
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        internal = [settings.by_item_topic, f"{settings.app_id}-__assignor-__leader"]
        delete_topics(settings.kafka, [s.name for s in specs] + internal)


def test_the_worker_runs_whole_under_its_acl_user(acl_server, worked):
    settings, events = worked
    port = acl_server.port
    as_admin = RedisConnection(url=f"redis://default:{ADMIN}@127.0.0.1:{port}/0")
    assert_state_equals_reference(settings.model_copy(update={"redis": as_admin}), events)
    client = admin(acl_server)
    assert client.scard(keys.catalogue()) == SPEC.items
    assert client.hlen(keys.embedding_items()) > 0  # the hybrid path wrote too
    assert decode_ranking(client.get(keys.item_similar_content("i1")))
    assert client.acl_log() == []  # nothing was refused, not even a swallowed error
    # volatile-* policies are accepted (streams.state.redis_checks) because no key has a TTL
    ttls = {client.ttl(key) for key in client.scan_iter(match="*", count=1000)}
    assert ttls == {-1}


def test_the_reader_serves_every_route_under_its_read_only_user(acl_server, worked):
    settings, events = worked
    user, other, item = events[0].user_id, events[1].user_id, events[0].item_id
    reader = ReaderSettings(kafka=settings.kafka, redis=reader_connection(acl_server.url))
    routes = [
        "/readyz", "/v1/popular", "/v1/stats", f"/v1/items/{item}",
        f"/v1/users/{user}/neighbors", f"/v1/users/{user}/similarity/{other}",
        f"/v1/users/{user}/predict/{item}", f"/v1/users/{user}/recommendations/{item}/because",
        *(f"/v1/items/{item}/similar?kind={kind}" for kind in ("cf", "content", "embedding")),
        *(f"/v1/users/{user}/recommendations?source={source}"
          for source in ("blend", "item-cf", "user-cf", "content", "embedding", "popular")),
    ]  # fmt: skip
    admin(acl_server).acl_log_reset()
    with TestClient(create_app(reader)) as http:
        for route in routes:
            answer = http.get(route)
            assert answer.status_code == 200, (route, answer.text)
        assert http.get(f"/v1/users/{user}/recommendations").json()["items"]
        assert http.get(f"/v1/users/{user}/predict/{item}").json()["prediction"] is not None
    assert admin(acl_server).acl_log() == []


def test_the_reader_user_cannot_write(acl_server):
    client = redis.Redis.from_url(
        acl_server.url, **reader_connection(acl_server.url).client_kwargs()
    )
    key = keys.user_state("someone")
    writes = [
        lambda: client.set(key, "x"),
        lambda: client.hset(key, "count", 1),
        lambda: client.delete(keys.popular()),
        lambda: client.zadd(keys.popular(), {"i": 1.0}),
        lambda: client.eval(WRITING_SCRIPT, 1, key),
        lambda: client.evalsha("0" * 40, 1, key),
        lambda: client.flushdb(),
        lambda: client.config_set("maxmemory-policy", "allkeys-lru"),
        lambda: client.get("not-ours"),  # outside sr:*
    ]
    for write in writes:
        with pytest.raises(NoPermissionError):
            write()

    async def through_the_worker_code() -> None:
        connection = aioredis.Redis.from_url(
            acl_server.url, **reader_connection(acl_server.url).client_kwargs()
        )
        try:
            with pytest.raises(NoPermissionError):  # its first write: claiming a partition
                await Store(connection).claim("ratings", 0)
        finally:
            await connection.aclose()

    asyncio.run(through_the_worker_code())
    assert not admin(acl_server).exists(key)


def test_the_worker_user_stays_inside_its_keys_and_commands(acl_server):
    client = redis.Redis.from_url(
        acl_server.url, **worker_connection(acl_server.url).client_kwargs()
    )
    client.hset(keys.user_state("w"), "count", 1)  # its own keys: yes
    for forbidden in [
        lambda: client.set("not-ours", "x"),
        lambda: client.eval(WRITING_SCRIPT, 1, keys.user_state("w")),  # only known scripts
        lambda: client.flushall(),
        lambda: client.config_set("maxmemory-policy", "allkeys-lru"),
        lambda: client.acl_setuser("me", enabled=True),
        lambda: client.keys("*"),
    ]:
        with pytest.raises(NoPermissionError):
            forbidden()


# --- TLS -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    folder: Path = tmp_path_factory.mktemp("redis-tls")
    files = make_tls_files(folder / "certs")
    other = make_tls_files(folder / "other", name="stranger")
    with RedisServer(folder / "data", acl=USERS, tls=files) as running:
        yield running, files, other


def test_debian_redis_server_speaks_tls(tls):
    server, _files, _other = tls
    assert server.url.startswith("rediss://")
    info = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    assert "v=7" in info or "v=8" in info


def test_a_plain_client_gets_nothing_from_the_tls_port(tls):
    server, _files, _other = tls
    plain = redis.Redis(port=server.port, password=ADMIN, socket_timeout=3)
    with pytest.raises(RedisConnectionError):
        plain.ping()


def test_the_reader_reaches_redis_over_tls_with_the_ca(tls):
    server, files, _other = tls
    connection = reader_connection(server.url, ssl_ca_certs=str(files.ca))
    setup = redis.Redis.from_url(server.url, password=ADMIN, ssl_ca_certs=str(files.ca))
    setup.zadd(keys.popular(), {"tls-item": 3.0})
    refuse_evicting_redis(connection, "reader")  # the start-up check reads INFO over TLS
    with TestClient(create_app(ReaderSettings(redis=connection))) as http:
        assert http.get("/readyz").status_code == 200
        assert [p["item_id"] for p in http.get("/v1/popular").json()] == ["tls-item"]


def test_the_worker_store_reaches_redis_over_tls_with_the_ca(tls):
    server, files, _other = tls
    connection = worker_connection(server.url, ssl_ca_certs=str(files.ca))

    async def round_trip() -> tuple[int, int]:
        client = aioredis.Redis.from_url(connection.url, **connection.client_kwargs())
        try:
            store = Store(client)
            await store.claim("tls-topic", 0)
            await store.begin("tls-topic", {0: 41})
            await store.commit("tls-topic", {0: 41})
            return await store.progress("tls-topic", 0)
        finally:
            await client.aclose()

    assert asyncio.run(round_trip()) == (41, -1)


def test_a_server_signed_by_another_ca_is_refused(tls):
    server, _files, other = tls
    connection = reader_connection(server.url, ssl_ca_certs=str(other.ca))
    client = redis.Redis.from_url(connection.url, socket_timeout=3, **connection.client_kwargs())
    started = time.monotonic()
    with pytest.raises(RedisConnectionError, match="certificate verify failed"):
        client.ping()
    assert time.monotonic() - started < 3

    async def reader_ping() -> None:
        pool = aioredis.Redis.from_url(connection.url, **connection.client_kwargs())
        try:
            await pool.ping()
        finally:
            await pool.aclose()

    with pytest.raises(RedisConnectionError, match="certificate verify failed"):
        asyncio.run(reader_ping())


def test_the_deploy_docs_show_the_tested_rules():
    docs = (Path(__file__).parents[2] / "docs" / "deploy.md").read_text()
    assert acl_rule("streamrec-reader", "<reader-password>", READER_ACL) in docs.splitlines()
    assert acl_rule("streamrec-worker", "<worker-password>", WORKER_ACL) in docs.splitlines()
