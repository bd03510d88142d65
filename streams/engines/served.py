"""The served list: each user's sources fused once, when one of them changed, and stored
ready to serve (``streams.state.served``), so the reader answers with one read and a
frontend can read the same bytes from Redis. No Kafka: the worker's fuser task drives it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from streams.algo import blend
from streams.state.served import FuseInputs, ItemText, assemble


class ServedState(Protocol):
    async def inputs(
        self, users: list[str], depth: int, popular: list[str]
    ) -> list[FuseInputs]: ...

    async def popular(self, n: int) -> tuple[list[tuple[str, float]], int]: ...

    async def metas(self, items: list[str]) -> dict[str, tuple[str | None, list[str]]]: ...

    async def write(self, served: list[tuple[str, int, bytes, bytes]]) -> int: ...

    async def write_popular(
        self, doc: bytes, ends: bytes, at: float, seen: list[str], depth: int
    ) -> None: ...


META_ENTRIES = 200_000  # items whose encoded metadata is kept


def _named(fused: list[tuple[str, float, list[str]]], reasons: Mapping[str, str]) -> set[str]:
    """Every item a served list names: its items and their reasons."""
    items = {i for i, _s, _x in fused}
    return items | {b for i, _s, srcs in fused if (b := blend.because(i, srcs, reasons))}


class Fuser:
    """Fuses and renders served lists. Titles and genres (or their absence) are cached
    for ``meta_ttl_s``; a catalogue change empties the cache and asks for every list to
    be fused again."""

    def __init__(
        self,
        store: ServedState,
        weights: Mapping[str, float],
        size: int,
        cold_start_ratings: int = blend.COLD_START_RATINGS,
        meta_ttl_s: float = 30.0,
        clock: Any = time.monotonic,
        per_reason: int = 0,
    ) -> None:
        self.store, self.weights, self.size = store, dict(weights), size
        self.per_reason = per_reason  # items per "because" item (blend.diversify)
        self.cold_start_ratings, self.meta_ttl_s, self.clock = cold_start_ratings, meta_ttl_s, clock
        self.depth = max(size, blend.DEPTH)
        self.popular: list[tuple[str, float]] = []  # 2 x depth: room for what a user rated
        self.catalogue_version = -1
        self.changed_at = 0.0  # when the popular list or the catalogue last changed
        self._meta: dict[str, tuple[float, ItemText]] = {}  # item → (expires, its JSON)

    async def refresh_globals(self) -> bool:
        """Read the popular list and the catalogue's version; when either changed, store
        the unknown users' list and return True (the known users' lists want fusing
        again, oldest first)."""
        top, version = await self.store.popular(2 * self.depth)
        # the whole 2 x depth: a user who rated some of the first items is served from
        # further down (comparing only the first depth missed changes they were served)
        ids = [i for i, _s in top]
        changed = ids != [i for i, _s in self.popular]
        if version != self.catalogue_version:
            self._meta.clear()
            changed = True
        self.popular, self.catalogue_version = top, version
        if changed or not top:
            fused = blend.fuse({"popular": top}, {"popular": 1.0}, self.size)
            await self._cache_metas(sorted(_named(fused, {})))
            head = {"source": "popular", "computed_at": None}
            doc, ends = assemble(head, self._items(fused, {}, {"popular": 1.0}))
            self.changed_at = time.time()
            await self.store.write_popular(doc, ends, self.changed_at, ids, 2 * self.depth)
        return changed

    async def fuse(self, users: list[str]) -> int:
        """Fuse and store ``users``' served lists; returns how many were stored (a fusion
        of older lists than the stored one's is refused)."""
        if not users:
            return 0
        popular_ids = [i for i, _s in self.popular]
        found = await self.store.inputs(users, self.depth, popular_ids)
        fused_all = []
        for inputs in found:
            lists: dict[str, list[tuple[str, float]]] = dict(inputs.lists)
            lists["popular"] = [e for e in self.popular if e[0] not in inputs.rated_popular]
            fused, label = blend.serve(
                lists,
                self.weights,
                inputs.ratings,
                self.size,
                self.cold_start_ratings,
                inputs.reasons,
                self.per_reason,
            )
            fused_all.append((fused, label))
        wanted: set[str] = set()
        for inputs, (fused, _label) in zip(found, fused_all, strict=True):
            wanted |= _named(fused, inputs.reasons)
        await self._cache_metas(sorted(wanted))  # one read for the round
        served = []
        for user, inputs, (fused, label) in zip(users, found, fused_all, strict=True):
            head = {
                "user_id": user,
                "source": label,
                "computed_at": inputs.computed_at if label == "blend" else None,
            }
            routed = blend.routed_weights(
                self.weights, inputs.ratings, label, self.cold_start_ratings
            )
            doc, ends = assemble(head, self._items(fused, inputs.reasons, routed))
            served.append((user, inputs.seq, doc, ends))
        return await self.store.write(served)

    def _items(
        self,
        fused: list[tuple[str, float, list[str]]],
        reasons: Mapping[str, str],
        weights: Mapping[str, float],
    ) -> list[bytes]:
        """The items encoded as ``app.schemas.RecommendedItem`` lays them out (their
        metadata cached by ``_cache_metas`` first); ``weights``: those fused with."""
        out = []
        for item, score, sources in fused:
            why = blend.because(item, sources, reasons)
            text = self._text(why) if why else None
            out.append(self._text(item).encode(score, blend.match(score, weights), sources, text))
        return out

    def _text(self, item: str) -> ItemText:
        return self._meta[item][1]

    async def _cache_metas(self, items: list[str]) -> None:
        now = self.clock()
        if len(self._meta) > META_ENTRIES:  # before the lookup: every asked item is then read
            self._meta.clear()
        missing = [i for i in items if i not in self._meta or self._meta[i][0] <= now]
        if not missing:
            return
        found = await self.store.metas(missing)
        for item in missing:  # an item without metadata too: every catalogue write bumps
            # the version, which empties the cache (``refresh_globals``, once a second);
            # asked again each second, a stream of items nobody described (the synthetic
            # one, the soak) spent 4% of the lists process reading nothing
            title, genres = found.get(item, (None, []))
            self._meta[item] = (now + self.meta_ttl_s, ItemText(item, title, genres))
