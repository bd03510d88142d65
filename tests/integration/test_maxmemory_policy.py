"""The worker and the reader refuse a Redis whose maxmemory-policy may evict any key
(fences included), accept noeviction and volatile-*, and only warn when Redis will not
say (real redis-server of the test's own, reconfigured with CONFIG SET)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

import pytest
import redis
import redis.asyncio as aioredis

from streams.settings import RedisConnection
from streams.stack.ephemeral import RedisServer
from streams.state import redis_checks
from streams.state.redis_checks import (
    EvictingRedis,
    acl_rule,
    check_eviction,
    refuse_evicting_redis,
)
from tests.conftest import worker_env

pytestmark = pytest.mark.integration

ADMIN = "admin-secret"
EVICTING = ["allkeys-lru", "allkeys-lfu", "allkeys-random"]
SAFE = ["noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    acl = [
        f"user default on >{ADMIN} ~* &* +@all",
        acl_rule("blind", "blind-pw", ("~sr:*", "-@all", "+ping", "+hget")),
        acl_rule("info-only", "info-pw", ("~sr:*", "-@all", "+ping", "+info")),
    ]
    with RedisServer(tmp_path_factory.mktemp("redis-policy"), acl=acl) as running:
        yield running


def _admin(server) -> redis.Redis:
    return redis.Redis.from_url(server.url, password=ADMIN)


def _connection(server, user: str | None = None, password: str = ADMIN) -> RedisConnection:
    return RedisConnection(url=server.url, username=user, password=password)


def _async_check(connection: RedisConnection) -> str | None:
    async def run() -> str | None:
        client = aioredis.Redis.from_url(connection.url, **connection.client_kwargs())
        try:
            return await check_eviction(client)
        finally:
            await client.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("policy", EVICTING)
def test_an_evicting_policy_is_refused_with_the_setting_named(server, policy, capsys):
    _admin(server).config_set("maxmemory-policy", policy)
    with pytest.raises(SystemExit) as exit_:
        refuse_evicting_redis(_connection(server))
    assert exit_.value.code == 2
    message = capsys.readouterr().err
    assert f"worker: refusing to start: Redis's maxmemory-policy is '{policy}'" in message
    assert "noeviction" in message
    with pytest.raises(EvictingRedis, match="maxmemory-policy"):
        _async_check(_connection(server))


@pytest.mark.parametrize("policy", SAFE)
def test_noeviction_and_volatile_policies_are_accepted(server, policy):
    _admin(server).config_set("maxmemory-policy", policy)
    refuse_evicting_redis(_connection(server))
    assert _async_check(_connection(server)) == policy


def test_info_alone_is_enough_to_refuse(server):
    _admin(server).config_set("maxmemory-policy", "allkeys-lru")
    with pytest.raises(EvictingRedis):
        _async_check(_connection(server, "info-only", "info-pw"))


def test_a_redis_that_will_not_tell_gets_a_warning_not_a_refusal(server, caplog):
    _admin(server).config_set("maxmemory-policy", "allkeys-lru")
    with caplog.at_level(logging.WARNING, logger=redis_checks.__name__):
        refuse_evicting_redis(_connection(server, "blind", "blind-pw"))
        assert _async_check(_connection(server, "blind", "blind-pw")) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("maxmemory-policy" in w and "noeviction" in w for w in warnings)


def test_an_unreachable_redis_is_only_logged(caplog):
    from streams.stack.ephemeral import free_port

    closed = RedisConnection(url=f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.WARNING, logger=redis_checks.__name__):
        refuse_evicting_redis(closed)
    assert "could not check" in caplog.text


def test_the_reader_app_refuses_to_start(server):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import ReaderSettings

    _admin(server).config_set("maxmemory-policy", "allkeys-lfu")
    app = create_app(ReaderSettings(redis=_connection(server)))
    with pytest.raises(EvictingRedis, match="allkeys-lfu"), TestClient(app):
        pass
    _admin(server).config_set("maxmemory-policy", "noeviction")
    with TestClient(create_app(ReaderSettings(redis=_connection(server)))) as client:
        assert client.get("/readyz").status_code == 200


def test_the_worker_process_refuses_to_start(server, worker_settings, topics):
    _admin(server).config_set("maxmemory-policy", "allkeys-random")
    env = worker_env(worker_settings) | {
        "STREAMREC_REDIS__URL": server.url,
        "STREAMREC_REDIS__PASSWORD": ADMIN,
    }
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "refusing to start: Redis's maxmemory-policy is 'allkeys-random'" in done.stderr
