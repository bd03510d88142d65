"""The worker's Redis client: redis-py's asyncio client with two per-command costs cut.

A batch sends pipelines of hundreds of commands, and in process a fifth of the engines'
time went to redis-py's own handling of them (docs/performance.md, fifth round):

- redis-py's asyncio connection packs every argument in Python (its synchronous client
  already packs with hiredis, in C). Here hiredis packs; the bytes are the same (floats
  as ``repr``), and whatever hiredis refuses (a numpy scalar, a bool) takes redis-py's
  own path, which raises or packs exactly as before.
- Every reply read arms and disarms an ``asyncio`` timer, even when the reply is already
  in the buffer. Here a reply already buffered is returned at once; one that must still
  be waited for takes redis-py's path, under the socket timeout as before.

Only a read without a timeout of its own (redis-py's default) takes the shortcut, and
only for a reply complete in hiredis's buffer (a RESP3 push is handed to redis-py's
handler, as its parser does): nothing else changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
from redis import asyncio as aioredis
from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError


class _Lean(AbstractConnection):
    """The two shortcuts, mixed into each of redis-py's connection kinds."""

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        if (isinstance(first, str) and " " in first) or (
            isinstance(first, bytes) and b" " in first
        ):
            return super().pack_command(*args)  # "CONFIG GET": redis-py splits the name
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            return super().pack_command(*args)

    def pack_commands(self, commands: Any) -> list[bytes]:
        return [b"".join(chunk for command in commands for chunk in self.pack_command(*command))]

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,
        *,
        disconnect_on_error: bool = True,
        push_request: bool | None = False,
    ) -> Any:
        parser = self._parser
        reader = getattr(parser, "_reader", None)
        if (
            timeout is None
            and not push_request
            and type(parser) is _AsyncHiredisParser
            and parser._connected
            and reader is not None
        ):
            reply = reader.gets(False) if disable_decoding else reader.gets()
            if reply is not NOT_ENOUGH_DATA:
                push = parser._hiredis_PushNotificationType
                if push is not None and isinstance(reply, push):  # RESP3: not ours
                    await parser.handle_push_response(reply)
                    return await self.read_response(disable_decoding)
                return self._buffered(reply)
        return await super().read_response(
            disable_decoding, timeout, disconnect_on_error=disconnect_on_error,
            push_request=push_request,
        )  # fmt: skip

    def _buffered(self, reply: Any) -> Any:
        """What redis-py's parser and connection make of a complete reply."""
        if isinstance(reply, RedisConnectionError):
            raise reply
        if isinstance(reply, list) and reply and isinstance(reply[0], RedisConnectionError):
            raise reply[0]
        if self.health_check_interval:
            now = asyncio.get_running_loop().time()
            self.next_health_check = now + self.health_check_interval
        if isinstance(reply, ResponseError):
            raise reply from None
        return reply


class LeanConnection(_Lean, Connection):
    pass


class LeanSSLConnection(_Lean, SSLConnection):
    pass


class LeanUnixConnection(_Lean, UnixDomainSocketConnection):
    pass


LEAN: dict[type, type] = {
    Connection: LeanConnection,
    SSLConnection: LeanSSLConnection,
    UnixDomainSocketConnection: LeanUnixConnection,
}


def connect(url: str, **kwargs: Any) -> aioredis.Redis:
    """An asyncio client for ``url`` (redis://, rediss://, unix://) on lean connections."""
    pool = aioredis.ConnectionPool.from_url(url, **kwargs)
    pool.connection_class = LEAN.get(pool.connection_class, pool.connection_class)
    return aioredis.Redis.from_pool(pool)
