"""Reads and writes of the item-to-item state in Redis (keys from ``streams.state.keys``).

Like ``streams.state.usercf``: every write that must happen at most once is a Lua script that
checks a fence; derived data (counts copy, similar lists, users' lists) is rewritten.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import redis.asyncio as aioredis

from streams.algo.ids import LocalIds
from streams.algo.itemcf.cooccurrence import HISTORY_DTYPE, CooccurrenceDeltas, UserHistory
from streams.state import keys
from streams.state.codecs import fmt, pack_ids, packed_entries, raw_pairs
from streams.state.itemcf_rows import Row, RowCache, planned_from_copies
from streams.state.served import mark_due
from streams.state.similar_due import DueSimilar
from streams.state.toolkit import (
    hash_values,
    hgetall_many,
    read_similar_lists,
    script,
    write_similar_lists,
)

NUMPY = orjson.OPT_SERIALIZE_NUMPY


def decode_history(raw: dict[Any, bytes]) -> UserHistory:
    return UserHistory(*packed_entries(raw, HISTORY_DTYPE)) if raw else UserHistory.empty()


class ItemStore:
    mark_served = False  # queue written users for the served list (the worker turns it on)

    def __init__(self, client: aioredis.Redis, row_cache_entries: int = 4_000_000) -> None:
        self.redis = client
        self.ids: LocalIds[bytes] = LocalIds()
        self.cache = RowCache(row_cache_entries)
        self.current: set[str] = set()  # items whose copy the last apply proved current
        self.copies_used = self.rows_read = 0  # rows served from copies / read from Redis
        self.rows_set = self.rows_refused = 0  # rows moved from copies / refused that
        self._apply_cooc = client.register_script(script("apply_cooccurrence.lua"))
        self._set_cooc = client.register_script(script("set_cooccurrence.lua"))
        self._apply_history = client.register_script(script("apply_entries.lua"))
        self._replace = client.register_script(script("replace_ranking.lua"))
        self._publish_counts = client.register_script(script("publish_item_counts.lua"))

    def due_similar(self) -> DueSimilar:
        """The similar lists the pace put off (``streams.engines.pace``)."""
        return DueSimilar(self.redis, "cf")

    async def histories(self, users: list[str]) -> dict[str, UserHistory]:
        raw = await hgetall_many(self.redis, [keys.user_history(u) for u in users])
        return {u: decode_history(r) for u, r in zip(users, raw, strict=True)}

    async def counts(self, items: list[Any]) -> dict[Any, int]:
        """n(i) of ``items`` (str or bytes ids; the result is keyed the same)."""
        return await hash_values(self.redis, keys.item_counts(), items, int)

    async def apply(
        self,
        portions: list[tuple[int, int, CooccurrenceDeltas, dict[str, UserHistory]]],
        with_sums: bool = False,
    ) -> None:
        """Items first, then the global copies of their n, each user's history last: if a
        crash interrupts, the users whose history was written already had every item delta
        applied and published (see docs/algorithm.md). A redo expands only the users whose
        history is missing, so this re-publishes only their items' copies; the engine's
        redo then re-publishes every rated item's from its fence (``republish_counts``)."""
        touched = await self._apply_items(portions, with_sums)
        # before any history: a redo's expansion reaches only the items it re-expands
        await self._publish([(item, n, s, v) for item, (n, s, v, _ok) in touched], with_sums)
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition, end, _d, histories in portions:
                field = keys.ratings_fence_field(partition)
                for user, history in histories.items():
                    if not history.changed:
                        continue
                    changed = sorted(history.changed)
                    packed = b"".join(history.packed(item) for item in changed)
                    await self._apply_history(
                        keys=[keys.user_history(user), keys.user_state(user)],
                        args=[field, end, *pack_ids(changed), packed],
                        client=pipe,
                    )
            await pipe.execute()

    async def republish_counts(self, items: list[str], with_sums: bool = False) -> None:
        """The items' copies of n (and mean) again, from their fence hashes: a redone batch
        may have lost them with the server that held ``{g}`` while the users' histories,
        elsewhere, survived, and then its expansion has no delta left to carry them."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                pipe.hmget(keys.item_fence(item), ["n", "s", "v"])
            raw = await pipe.execute()
        fenced = zip(items, raw, strict=True)
        await self._publish([(i, n, s, v) for i, (n, s, v) in fenced if v is not None], with_sums)

    async def _publish(self, entries: list[tuple[str, Any, Any, Any]], with_sums: bool) -> None:
        """publish_item_counts.lua over (item, n, Σ ratings, version) as the fence holds
        them: each item's copy of n, and of its mean with the Pearson sums."""
        if not entries:
            return
        copies: list[Any] = ["1" if with_sums else "0"]
        for item, n, s, version in entries:
            count = int(n or 0)
            mean = fmt(float(s or 0) / count) if with_sums and count else ""
            copies += [item, int(version), count, mean]
        names = [keys.item_counts(), keys.item_count_versions(), keys.item_means()]
        await self._publish_counts(keys=names, args=copies)

    async def _apply_items(
        self,
        portions: list[tuple[int, int, CooccurrenceDeltas, dict[str, UserHistory]]],
        with_sums: bool,
    ) -> list[tuple[str, Any]]:
        """Each touched item's row moved by the batch; returns (item, reply) per script
        call, in call order. An item whose row the worker holds is set from its copy in
        one call for all partitions (set_cooccurrence.lua); the others, and any that
        script refuses (a redo, another writer moved the row), get their deltas added per
        partition (apply_cooccurrence.lua) and their copies moved as before."""
        parts = [
            (keys.ratings_fence_field(partition), end, deltas)
            for partition, end, deltas, _h in portions
        ]
        whole = {} if with_sums else planned_from_copies(self.ids, self.cache, parts)
        async with self.redis.pipeline(transaction=False) as pipe:
            for item, plan in whole.items():
                cooc_keys = [keys.item_cooccurrence(item), keys.item_fence(item)]
                await self._set_cooc(keys=cooc_keys, args=plan.args, client=pipe)
            added = await self._add_deltas(pipe, parts, with_sums, set(whole))
            replies = await pipe.execute()
        touched: list[tuple[str, Any]] = []
        refused = set()
        current: dict[str, bool] = {}
        for (item, plan), reply in zip(whole.items(), replies[: len(whole)], strict=True):
            if int(reply[3]):
                moved = Row(plan.partners, plan.counts, int(reply[2]), plan.last)
                self.cache.put(item, moved)
                current[item] = item in self.cache.rows
                touched.append((item, reply))
            else:  # another writer, a redo, or (never yet) a copy that lost its row
                refused.add(item)
                self.cache.drop(item)
                self.cache.dropped += 1
        self.rows_set += len(whole) - len(refused)
        self.rows_refused += len(refused)
        replies = replies[len(whole) :]
        if refused:  # their deltas, per partition, in a second round trip
            async with self.redis.pipeline(transaction=False) as pipe:
                added += await self._add_deltas(pipe, parts, with_sums, set(), refused)
                replies += await pipe.execute()
        for (item, at, values, last), reply in zip(added, replies, strict=True):
            _n, _s, version, applied = reply
            current[item] = self.cache.advance(item, at, values, int(version), bool(applied), last)
            touched.append((item, reply))
        self.current = {item for item, kept in current.items() if kept}
        return touched

    async def _add_deltas(
        self,
        pipe: Any,
        parts: list[tuple[str, int, CooccurrenceDeltas]],
        with_sums: bool,
        skip: set[str],
        only: set[str] | None = None,
    ) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
        """apply_cooccurrence.lua per (partition, item) into ``pipe``, but for ``skip``
        (and only ``only``, if given); returns each call's item, the delta that moves the
        item's copy forward (local ids, counts; empty without a copy) and its batch."""
        calls: list[tuple[str, np.ndarray, np.ndarray, str]] = []
        for field, end, deltas in parts:
            items = set(deltas.pairs) | set(deltas.counts) | set(deltas.sums)
            for item in sorted(items | set(deltas.rating_sums)):
                if item in skip or (only is not None and item not in only):
                    continue
                row = deltas.pairs.get(item, {})
                partners = sorted(row)
                values = np.array([row[j] for j in partners], dtype="<i4")
                args: list[Any] = [field, end, deltas.counts.get(item, 0)]
                args += [orjson.dumps(partners), orjson.dumps(values, option=NUMPY)]
                if with_sums:
                    sums = deltas.sums.get(item, {})
                    others = sorted(sums)
                    blob = np.array([sums[j] for j in others], dtype="<f8").tobytes()
                    args += [fmt(deltas.rating_sums.get(item, 0.0)), *pack_ids(others), blob]
                await self._apply_cooc(
                    keys=[
                        keys.item_cooccurrence(item),
                        keys.item_fence(item),
                        keys.item_pair_sums(item),
                    ],
                    args=args,
                    client=pipe,
                )
                if item in self.cache.rows:  # the delta that moves the copy forward
                    at = self.ids.index(j.encode() for j in partners)
                    calls.append((item, at, values.astype(np.int64), f"{field}:{end}"))
                else:
                    calls.append((item, values[:0], values[:0], ""))
        return calls

    async def rows(
        self, items: list[str], unproven: set[str] | frozenset[str] = frozenset()
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each item's co-occurrence row: (partners as local ids, c(i, j)), from the
        worker's copy where it is current, else read (and kept) with its version and
        last batch. The copies the last ``apply`` proved current are used as they are;
        any other copy held (an item rated with no delta, e.g. past a user's history
        cap, or not rated in the last batch) costs one read of its version and last
        batch, and is used if no batch moved the row since (so is any copy of
        ``unproven``: items another worker may have moved). A row is read whole only
        when neither proves it, its version read first: a batch applied between the two
        reads makes the kept copy look older than it is, so it is dropped at its next
        batch or refused by set_cooccurrence.lua, never trusted wrongly."""
        out: dict[str, Row] = {}
        missing = []
        for item in items:
            trusted = item in self.current and item not in unproven
            row = self.cache.get(item) if trusted else None
            if row is None:
                missing.append(item)
            else:
                out[item] = row
        held = [item for item in missing if item in self.cache.rows]
        unheld = [item for item in missing if item not in self.cache.rows]
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in missing:  # before any row: see above
                pipe.hmget(keys.item_fence(item), ["v", "l"])
            for item in unheld:
                pipe.hgetall(keys.item_cooccurrence(item))
            raw = await pipe.execute()
        read = {
            item: (int(v or 0), last.decode() if last else "")
            for item, (v, last) in zip(missing, raw, strict=False)
        }
        fields_of = dict(zip(unheld, raw[len(missing) :], strict=True))
        for item in held:
            row = self.cache.get(item)
            if row is not None and (row.version, row.last) == read[item]:
                out[item] = row
        stale = [item for item in held if item not in out]  # copies some batch moved on
        if stale:
            rows = await hgetall_many(self.redis, [keys.item_cooccurrence(i) for i in stale])
            fields_of.update(zip(stale, rows, strict=True))
        self.copies_used += len(items) - len(fields_of)
        self.rows_read += len(fields_of)
        for item, fields in fields_of.items():
            partners = self.ids.index(fields)
            counts = np.fromiter(map(int, fields.values()), np.int64, len(fields))
            order = np.argsort(partners)
            row = Row(partners[order], counts[order], *read[item])
            self.cache.put(item, row)
            out[item] = row
        return {item: (out[item].partners, out[item].counts) for item in items}

    async def counts_at(self, partners: np.ndarray) -> np.ndarray:
        """n(j) of the local ids ``partners``, in a dense array over every local id."""
        dense = np.zeros(len(self.ids), dtype=np.float64)
        if len(partners):
            names = [self.ids.names[k] for k in partners.tolist()]
            values = await self.redis.hmget(keys.item_counts(), names)
            dense[partners] = [int(v) if v is not None else 0 for v in values]
        return dense

    async def pair_sums(self, items: list[str]) -> dict[str, tuple[list[bytes], np.ndarray]]:
        """Each item's Pearson sums row: (partner ids as bytes, (m, 6) sums)."""
        raw = await hgetall_many(self.redis, [keys.item_pair_sums(i) for i in items])
        return {item: raw_pairs(row) for item, row in zip(items, raw, strict=True)}

    async def means(self, items: list[Any]) -> dict[Any, float]:
        return await hash_values(self.redis, keys.item_means(), items, float)

    async def write_similar(self, lists: dict[str, list[tuple[str, float]]]) -> None:
        lists = {keys.item_similar(item): listed for item, listed in lists.items()}
        await write_similar_lists(self.redis, lists)

    async def similar(self, items: list[str], size: int) -> dict[str, list[tuple[str, float]]]:
        names = [keys.item_similar(item) for item in items]
        return dict(zip(items, await read_similar_lists(self.redis, names, size), strict=True))

    async def write_user_lists(
        self, lists: dict[str, list[tuple[str, float, str]]], since: Mapping[str, float]
    ) -> None:
        """Replace each user's item-to-item list and reasons; ``since`` as in the served
        list's due queue (``streams.state.served.mark_due``)."""
        now = fmt(time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            for user, ranked in lists.items():
                scores = np.array([s for _i, s, _b in ranked], dtype="<f8").tobytes()
                args = [*pack_ids([i for i, _s, _b in ranked]), scores]
                args += pack_ids([b for _i, _s, b in ranked])
                await self._replace(
                    keys=[keys.user_item_topn(user), keys.user_item_reasons(user)],
                    args=args,
                    client=pipe,
                )
                pipe.hset(keys.user_state(user), "item_topn_at", now)
            if self.mark_served:
                mark_due(pipe, {u: since[u] for u in lists})
            await pipe.execute()
