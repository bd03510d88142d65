"""One Redis connection shared by every request of the hot route.

Redis answers the commands of one connection in the order they were sent, so concurrent
requests can write their commands onto one socket as they come and take the replies in
the same order (a multiplexer, as StackExchange.Redis and Lettuce do). A read then costs
one write and one parsed reply: no pool checkout, no retry wrapper, no timeout task per
call, which were more than half of the recommendations route's time with redis-py.

Failures are redis-py's exceptions, so the app's handler answers 503 as for any other
Redis call: a lost connection fails every waiting command and the next one reconnects;
a reply later than ``timeout_s`` closes the connection (a watchdog, not a timer per call).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

WATCH_EVERY_S = 0.25


def supported(url: str) -> bool:
    """TCP URLs (``redis://``, ``rediss://``); anything else stays on redis-py."""
    return url.startswith(("redis://", "rediss://"))


def encode(args: tuple[Any, ...]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = hiredis.Reader()
        self.waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        while (reply := self.parser.gets()) is not False:
            future, _sent = self.waiting.popleft()
            if future.done():  # its request was cancelled: the reply is dropped
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(ResponseError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is not None:
            return  # the watchdog's timeout, then the transport's own report
        self.lost = exc or RedisConnectionError("Redis closed the connection")
        while self.waiting:
            future, _sent = self.waiting.popleft()
            if future.done():
                continue
            if isinstance(self.lost, RedisTimeoutError):
                future.set_exception(RedisTimeoutError(str(self.lost)))
            else:
                future.set_exception(RedisConnectionError(f"connection lost: {self.lost}"))

    def send(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        assert self.transport is not None
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((future, time.monotonic()))
        self.transport.write(encode(args))
        return future


class Multiplexed:
    def __init__(
        self,
        url: str,
        password: str | None = None,
        username: str | None = None,
        ssl_ca_certs: str | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        parsed = parse_url(url)
        self.host, self.port = parsed.get("host", "127.0.0.1"), int(parsed.get("port", 6379))
        self.db = int(parsed.get("db", 0))
        self.password = password or parsed.get("password")
        self.username = username or parsed.get("username")
        self.tls = parsed.get("connection_class") is SSLConnection
        self.ssl_ca_certs, self.timeout_s = ssl_ca_certs, timeout_s
        self._protocol: _Protocol | None = None
        self._connecting = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None

    async def execute(self, *args: Any) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connect()
        return await protocol.send(args)

    async def _connect(self) -> _Protocol:
        async with self._connecting:
            if self._protocol is not None and self._protocol.lost is None:
                return self._protocol
            context = None
            if self.tls:
                context = ssl.create_default_context(cafile=self.ssl_ca_certs)
            loop = asyncio.get_running_loop()
            try:
                _transport, protocol = await asyncio.wait_for(
                    loop.create_connection(_Protocol, self.host, self.port, ssl=context),
                    self.timeout_s,
                )
            except (TimeoutError, OSError) as exc:
                raise RedisConnectionError(f"cannot reach Redis: {exc}") from exc
            if self.password:
                who = [self.username] if self.username else []
                await protocol.send(("AUTH", *who, self.password))
            if self.db:
                await protocol.send(("SELECT", self.db))
            self._protocol = protocol
            if self._watchdog is None or self._watchdog.done():
                self._watchdog = asyncio.create_task(self._watch())
            return protocol

    async def _watch(self) -> None:
        """Close a connection whose oldest command waits past ``timeout_s``: its waiters
        fail (503) and the next command reconnects."""
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            protocol = self._protocol
            if protocol is None or protocol.lost is not None or not protocol.waiting:
                continue
            if time.monotonic() - protocol.waiting[0][1] > self.timeout_s:
                protocol.connection_lost(RedisTimeoutError("Redis did not answer in time"))
                if protocol.transport is not None:
                    protocol.transport.abort()

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
