"""The served list in Redis: its format (a JSON document any ``n`` is a prefix of), the
due queue the stores feed when a source list changes, and the fuser's reads and writes.

Ordering without a transaction: a store writes a batch of source lists, *then* bumps the
global ``served_seq`` and queues the users. The fuser reads ``served_seq`` *before* the
lists, so the lists it reads are at least as new as every write counted in that value,
and ``write_served.lua`` refuses a fusion whose value is older than the stored one's: the
last fusion of the newest lists wins. One counter per batch, not one per user.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import redis.asyncio as aioredis

from streams.state import keys
from streams.state.codecs import text
from streams.state.toolkit import item_metas, script

SOURCE_KEYS = {
    "user-cf": keys.user_topn,
    "item-cf": keys.user_item_topn,
    "content": keys.user_content_topn,
    "embedding": keys.user_embedding_topn,
}
_COMPACT = (",", ":")


# --- the document ----------------------------------------------------------------------
def assemble(head: Mapping[str, Any], items: Sequence[bytes]) -> tuple[bytes, bytes]:
    """(doc, ends): ``head``'s fields, then ``items`` (each a compact JSON object) as the
    last field, and where each item ends in the bytes (uint32 little-endian)."""
    opening = json.dumps(dict(head), separators=_COMPACT)[:-1]
    start = (opening + ("," if head else "") + '"items":[').encode()
    body = b",".join(items)
    ends = np.cumsum([len(item) + 1 for item in items], dtype=np.int64) - 1 + len(start)
    return start + body + b"]}", ends.astype("<u4").tobytes()


class ItemText:
    """One item's JSON pieces, encoded once: the fuser writes each popular item into
    thousands of lists, and ``json.dumps`` of a dict per item was a third of its time."""

    __slots__ = ("id_json", "tail", "title_json")

    def __init__(self, item_id: str, title: str | None, genres: list[str]) -> None:
        self.id_json = json.dumps(item_id)
        self.title_json = json.dumps(title)
        listed = json.dumps(genres, separators=_COMPACT)
        self.tail = f',"title":{self.title_json},"genres":{listed}}}'

    def encode(
        self, score: float, match: int, sources: list[str], because: ItemText | None
    ) -> bytes:
        """The same bytes as ``json.dumps`` of the item's dict, compact (a unit test)."""
        named = ",".join(f'"{s}"' for s in sources)  # source names are fixed ASCII words
        why = (because.id_json, because.title_json) if because else ("null", "null")
        return (
            f'{{"item_id":{self.id_json},"score":{score!r},"match":{int(match)},'
            f'"source":"{sources[0]}",'
            f'"sources":[{named}],"because_item":{why[0]},"because_title":{why[1]}{self.tail}'
        ).encode()


def first(doc: bytes, ends: bytes, n: int) -> bytes:
    """The document with only its first ``n`` items: one slice, no parsing."""
    offsets = np.frombuffer(ends, dtype="<u4")
    if n >= len(offsets):
        return doc
    return doc[: int(offsets[n - 1])] + b"]}"


def with_user(doc: bytes, user_id: str) -> bytes:
    """The popular document (no ``user_id``) as served to ``user_id``."""
    return b'{"user_id":' + json.dumps(user_id).encode() + b"," + doc[1:]


# --- what the stores do when a source list changes ----------------------------------------
def mark_due(pipe: Any, since: Mapping[str, float]) -> None:
    """Queue users for fusion after their source lists were written in ``pipe``: bump
    ``served_seq``, then queue them under the oldest unserved change's time (NX keeps
    the oldest)."""
    if since:
        pipe.incr(keys.served_seq())
        pipe.zadd(keys.served_due(), dict(since), nx=True)


@dataclass(frozen=True)
class FuseInputs:
    """One user's source lists as the fuser read them."""

    seq: int  # ``served_seq`` as read before the lists
    # the personal sources, best first; the scores are 0 (the fusion uses ranks only)
    lists: dict[str, list[tuple[str, float]]]
    reasons: dict[str, str]  # item-cf: item → the recent item that put it there
    ratings: int
    rated_popular: set[str]  # of the popular items asked about, those the user rated
    computed_at: float | None


class ServedStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis: Any = client
        self._write = client.register_script(script("write_served.lua"))

    # --- the reader --------------------------------------------------------------------
    async def read(self, user: str, execute: Any = None) -> tuple[bytes, bytes] | None:
        """(doc, ends) of the user's served list; ``execute`` runs the one command (the
        reader's multiplexed connection), redis-py's client by default."""
        return await self._doc(keys.user_served(user), execute)

    async def read_popular(self) -> tuple[bytes, bytes] | None:
        return await self._doc(keys.served_popular())

    async def _doc(self, key: str, execute: Any = None) -> tuple[bytes, bytes] | None:
        run = execute or self.redis.execute_command
        doc, ends = await run("HMGET", key, "doc", "ends")
        return None if doc is None else (doc, ends or b"")

    # --- the fuser ---------------------------------------------------------------------
    async def pop_due(self, n: int) -> list[tuple[str, float]]:
        popped = await self.redis.zpopmin(keys.served_due(), n)
        return [(text(user), float(at)) for user, at in popped]

    async def queue_due(self, due: list[tuple[str, float]]) -> None:
        """(user, since) back on the queue, or on it for the first time (NX keeps an
        older time)."""
        if due:
            await self.redis.zadd(keys.served_due(), dict(due), nx=True)

    async def due_count(self) -> int:
        return int(await self.redis.zcard(keys.served_due()))

    async def fused_before(self, at: float, n: int) -> list[str]:
        """Up to ``n`` users whose served list is older than ``at``, oldest first."""
        users = await self.redis.zrangebyscore(keys.served_times(), "-inf", f"({at!r}", 0, n)
        return [text(u) for u in users]

    async def popular(self, n: int) -> tuple[list[tuple[str, float]], int]:
        """The popular list's top ``n``, and the catalogue's version (titles change)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(keys.popular(), 0, n - 1, withscores=True)
            pipe.get(keys.catalogue_version())
            top, version = await pipe.execute()
        return [(text(i), float(s)) for i, s in top], int(version or 0)

    async def inputs(self, users: list[str], depth: int, popular: list[str]) -> list[FuseInputs]:
        """Every user's source lists in one round trip, ``served_seq`` read first."""
        per_user = 3 + len(SOURCE_KEYS) + (1 if popular else 0)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.served_seq())
            for user in users:
                for key in SOURCE_KEYS.values():  # ranks are all the fusion uses
                    pipe.zrevrange(key(user), 0, depth - 1)
                pipe.hgetall(keys.user_item_reasons(user))
                pipe.hmget(keys.user_state(user), ["topn_at", "item_topn_at", "count"])
                pipe.hget(keys.user_embedding(user), "at")
                if popular:
                    pipe.hmget(keys.user_ratings(user), popular)
            seq, *raw = await pipe.execute()
        out = []
        for k in range(len(users)):
            ranked = raw[k * per_user : k * per_user + len(SOURCE_KEYS)]
            reasons, (at, item_at, count), hybrid_at, *rated = raw[
                k * per_user + len(SOURCE_KEYS) : (k + 1) * per_user
            ]
            times = [float(t) for t in (at, item_at, hybrid_at) if t]
            out.append(
                FuseInputs(
                    seq=int(seq or 0),
                    lists={
                        s: [(i.decode(), 0.0) for i in r]
                        for s, r in zip(SOURCE_KEYS, ranked, strict=True)
                    },
                    reasons={text(i): text(b) for i, b in reasons.items()},
                    ratings=int(float(count)) if count is not None else 0,
                    rated_popular={i for i, r in zip(popular, rated[0], strict=True) if r}
                    if rated
                    else set(),
                    computed_at=max(times) if times else None,
                )
            )
        return out

    async def metas(self, items: list[str]) -> dict[str, tuple[str | None, list[str]]]:
        """(title, genres) of each item the catalogue describes."""
        found = await item_metas(self.redis, items)
        return {i: (title, list(attrs.get("genres", []))) for i, (title, attrs) in found.items()}

    async def write(self, served: list[tuple[str, int, bytes, bytes]]) -> int:
        """Store (user, version, doc, ends) each; returns how many were written."""
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for user, version, doc, ends in served:
                await self._write(keys=[keys.user_served(user)], args=[version, doc, ends],
                                  client=pipe)  # fmt: skip
            if served:
                pipe.zadd(keys.served_times(), {user: now for user, *_ in served})
            written = await pipe.execute()
        return sum(int(w) for w in written[: len(served)])

    async def write_popular(
        self, doc: bytes, ends: bytes, at: float, seen: list[str], depth: int
    ) -> None:
        """``at``: when the popular list or the catalogue changed; every served list fused
        before it is due again (``fused_before``, and ``wait_idle`` waits for them).
        ``seen``: the popular list's first ``depth`` ids as the fuser compared them: until
        the fuser has looked again (once a second), ``wait_idle`` sees a change it missed."""
        fields = {
            "doc": doc, "ends": ends, "at": repr(at), "seen": orjson.dumps(seen), "depth": depth
        }  # fmt: skip
        await self.redis.hset(keys.served_popular(), mapping=fields)

    async def unserved_users(self, cursor: int, count: int) -> tuple[int, list[str]]:
        """A page of known users (HSCAN of the means): the backfill of a store that had
        no served lists yet (an upgrade)."""
        cursor, page = await self.redis.hscan(keys.user_means(), cursor, count=count)
        return int(cursor), [text(u) for u in page]
