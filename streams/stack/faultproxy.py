"""A TCP proxy that injects faults on the wire, for the fault tests (issue 15): it stands
between the worker and Redis (or Kafka) and can switch its upstream (a failover: the
address now leads to the promoted replica), reset every connection, delay every chunk,
or swallow everything (a blackhole, as a cut cable looks to both ends).

It runs its own event loop on a thread, so a test drives it with plain calls while the
processes under test talk through it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any

CHUNK = 64 * 1024


class FaultProxy:
    """``FaultProxy(("127.0.0.1", 6379)).start()``; clients connect to ``port``."""

    def __init__(self, upstream: tuple[str, int], port: int = 0) -> None:
        self.upstream = upstream
        self.port = port
        self.latency_s = 0.0
        self.blackholed = False
        self.connections = 0  # accepted so far
        self.delayed = 0  # chunks held back by the latency
        self.dropped = 0  # bytes swallowed by the blackhole
        self.aborted = 0  # connection ends reset by ``reset`` or ``switch``
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def switch(self, upstream: tuple[str, int]) -> None:
        """New connections go to ``upstream``; the open ones are reset, as the old
        server's connections die in a failover."""
        self.upstream = upstream
        self.reset()

    def reset(self) -> None:
        """Reset (RST) every open connection, both sides."""
        self._call(self._reset())

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk, each way, by ``seconds``."""
        self.latency_s = seconds

    def blackhole(self, on: bool = True) -> None:
        """While on, bytes are read and dropped each way: connections stay open, nothing
        arrives (a client waits for its timeout, a server for its session timeout)."""
        self.blackholed = on

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset()

    async def _reset(self) -> None:
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:  # linger 0: close sends RST, not FIN
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            self.aborted += 1
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:  # the upstream is down: the client sees its connection dropped
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(CHUNK):
                if self.latency_s:
                    self.delayed += 1
                    await asyncio.sleep(self.latency_s)
                if self.blackholed:
                    self.dropped += len(chunk)
                    continue
                writer.write(chunk)
                await writer.drain()
