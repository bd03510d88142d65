"""The Redis clients of every process, from its ``RedisConnection``: one server, or a
Redis Cluster (``STREAMREC_REDIS__CLUSTER=true``) through redis-py's cluster clients with
the Lua scripts made to work in pipelines.

redis-py's cluster pipeline sends ``EVALSHA`` as it is and fails with ``NOSCRIPT`` on a
node that has not seen the script (its single-node pipeline loads scripts first). So
every script registered on the client is loaded on every master (``SCRIPT LOAD`` goes
to all of them) before a pipeline that follows a registration runs. A node that loses
its scripts later (a restart, a promoted replica) answers ``NOSCRIPT``: the client
marks the scripts for loading again and raises a ``ConnectionError``, so the caller
retries the batch as after any outage (every write is fenced, a retry is harmless).

``ReplicaBarrier`` waits for the replicas of every master before a batch counts as
begun or committed (``STREAMREC_REDIS__WAIT_REPLICAS``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.connection import Connection
from redis.commands.core import AsyncScript
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    NoScriptError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
)

from streams.settings.connections import RedisConnection
from streams.state import keys
from streams.state.connection import LEAN, connect


class _ScriptedPipeline(ClusterPipeline):
    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        """Queued like any keyed command (redis-py blocks it in cluster pipelines, though
        it routes it by its first key as for the client): each script here names keys of
        one slot. Awaitable as ``AsyncScript`` awaits it, without ``await pipe``, which
        would empty the queue."""
        self.execute_command("EVALSHA", sha, numkeys, *keys_and_args)
        return self

    async def execute(self, *args: Any, **kwargs: Any) -> list[Any]:
        client: ScriptedCluster = self.cluster_client  # type: ignore[assignment]
        await client.load_scripts()
        try:
            return await super().execute(*args, **kwargs)
        except NoScriptError as exc:
            client.unloaded = list(client.scripts)
            raise RedisConnectionError(f"a Redis node lost its scripts: {exc}") from exc
        except RedisClusterException as exc:
            raise _as_outage(exc) from exc


def _as_outage(exc: RedisClusterException) -> Exception:
    """redis-py's transient cluster errors outside ``RedisError`` (a slot with no node
    while a failover redraws the map, no node reachable to draw it from) as an outage:
    the callers retry those and would crash on anything else. Its other cluster errors
    (a cross-slot transaction) are bugs and stay as they are."""
    if isinstance(exc, SlotNotCoveredError) or type(exc) is RedisClusterException:
        return RedisConnectionError(f"the cluster's map is changing: {exc!r}")
    return exc


class ScriptedCluster(AsyncRedisCluster):
    """The asyncio cluster client whose pipelines can run registered scripts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scripts: list[AsyncScript] = []
        self.unloaded: list[AsyncScript] = []
        self.loading = asyncio.Lock()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except RedisClusterException as exc:
            raise _as_outage(exc) from exc

    def register_script(self, script: Any) -> AsyncScript:  # type: ignore[override]
        registered = AsyncScript(self, script)
        self.scripts.append(registered)
        self.unloaded.append(registered)
        return registered

    async def load_scripts(self) -> None:
        if not self.unloaded:
            return
        async with self.loading:  # pipelines of several agents come here at once
            while self.unloaded:
                script = self.unloaded[0]
                script.sha = await self.script_load(script.script)
                self.unloaded.remove(script)

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> ClusterPipeline:
        if shard_hint:
            raise ValueError("a cluster pipeline takes no shard hint")
        return _ScriptedPipeline(self, transaction)  # type: ignore[abstract]


def connect_cluster(url: str, **kwargs: Any) -> ScriptedCluster:
    """An asyncio cluster client on the lean connections of ``streams.state.connection``."""
    client: ScriptedCluster = ScriptedCluster.from_url(url, **kwargs)  # type: ignore[assignment]
    for node in client.get_nodes():
        node.connection_class = LEAN.get(node.connection_class, node.connection_class)
    shared = client.nodes_manager.connection_kwargs
    kind = shared.get("connection_class", Connection)
    shared["connection_class"] = LEAN.get(kind, kind)
    return client


def async_client(connection: RedisConnection, **kwargs: Any) -> Any:
    """The asyncio client of the worker and the list process (``kwargs``: timeouts)."""
    kwargs |= connection.client_kwargs()
    if connection.cluster:
        return connect_cluster(connection.url, **kwargs)
    return connect(connection.url, **kwargs)


def sync_client(connection: RedisConnection, **kwargs: Any) -> Any:
    """The synchronous client of the commands (wait-idle, demo, rebuild, checks)."""
    kwargs |= connection.client_kwargs()
    if connection.cluster:
        return redis.cluster.RedisCluster.from_url(connection.url, **kwargs)
    return redis.Redis.from_url(connection.url, **kwargs)


class ReplicasBehind(RedisError):
    """Fewer replicas than asked acknowledged a batch's writes in time: the batch is not
    committed, and its retry (fenced, harmless) waits again."""


class ReplicaBarrier:
    """Waits until every master's replicas hold everything written so far, so that a
    failover to one of them cannot lose what a commit then declares applied
    (``STREAMREC_REDIS__WAIT_REPLICAS``; a cluster's masters each hold part of a batch).

    ``WAIT`` counts the writes of its own connection only, so each master gets a
    connection of its own on which one small write precedes the ``WAIT``: the
    replication stream is in order, so acknowledging that write acknowledges every
    earlier write of every connection."""

    def __init__(self, client: Any, connection: RedisConnection) -> None:
        self.client, self.connection = client, connection
        self.replicas = connection.wait_replicas
        self.timeout_ms = int(connection.wait_timeout_s * 1000)
        self.links: dict[str, tuple[Any, str]] = {}  # node -> (its connection, a key of it)

    async def __call__(self) -> None:
        if self.replicas <= 0:
            return
        if not self.connection.cluster:
            await self._wait("server", self._link_to_server)
            return
        masters = self.client.get_primaries()
        await asyncio.gather(*(self._wait(m.name, lambda m=m: self._link_to(m)) for m in masters))

    async def _wait(self, name: str, link: Any) -> None:
        if name not in self.links:
            self.links[name] = link()
        conn, key = self.links[name]
        try:
            await conn.incr(key)
            acked = await conn.wait(self.replicas, self.timeout_ms)
        except RedisError:
            self.links.pop(name, None)  # moved or gone: linked again at the next call
            with contextlib.suppress(RedisError, OSError):
                await conn.aclose()  # else every retry through an outage leaks a socket
            raise
        if acked < self.replicas:
            raise ReplicasBehind(
                f"{acked} of {self.replicas} replicas of {name} acknowledged the batch's "
                f"writes within {self.timeout_ms} ms"
            )

    async def aclose(self) -> None:
        for conn, _key in self.links.values():
            with contextlib.suppress(RedisError, OSError):
                await conn.aclose()
        self.links.clear()

    def _link_to_server(self) -> tuple[Any, str]:
        url, kwargs = self.connection.url, self.connection.client_kwargs()
        return connect(url, single_connection_client=True, **kwargs), keys.barrier("g")

    def _link_to(self, master: Any) -> tuple[Any, str]:
        """A connection to ``master`` and a key of a slot it serves."""
        slots = self.client.nodes_manager.slots_cache
        for n in range(100_000):
            tag = f"b{n}"
            owners = slots.get(key_slot(tag.encode()))
            if owners and owners[0].name == master.name:
                break
        else:  # the map changed under us: retried as an outage, with a new map
            raise RedisConnectionError(f"{master.name} serves no slot in the client's map")
        kwargs = self.connection.client_kwargs()
        conn = aioredis.Redis(
            host=master.host, port=master.port, single_connection_client=True,
            ssl=self.connection.url.startswith("rediss://"), **kwargs,
        )  # fmt: skip
        return conn, keys.barrier(tag)
