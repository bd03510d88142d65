"""One micro-batch of the item-to-item path: count co-occurrences, re-score, list.

No Kafka here: the agent hands in the events of one ratings partition (keyed by user) in
offset order and the offset that ends them, as for ``streams.engines.usercf``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from streams import metrics
from streams.algo.itemcf import ItemCFConfig
from streams.algo.itemcf.cooccurrence import CooccurrenceDeltas, UserHistory, expand_user_events
from streams.algo.itemcf.similarity import cosine_row, most_similar, score_recent
from streams.algo.usercf.pearson import pearson
from streams.algo.usercf.recommend import stored_scores
from streams.engines.pace import SimilarPace
from streams.state.itemcf import ItemStore
from streams.state.itemcf_rows import NamesAt
from streams.state.usercf import Store


@dataclass(frozen=True)
class UserEvent:
    user_id: str
    item_id: str
    rating: float | None
    offset: int
    produced_at: float
    ts: float = 0.0  # the event's own time (seconds); the by-item forward carries it


@dataclass
class UserPortion:
    partition: int
    end: int
    events: list[UserEvent]


@dataclass
class ItemBatchResult:
    acted: dict[str, float]  # user → latest produce time
    rated: set[str]  # items whose similar lists are due
    histories: dict[str, UserHistory]  # the acting users' histories after the batch


class ItemEngine:
    def __init__(
        self, store: ItemStore, progress: Store, config: ItemCFConfig, similar_every_s: float = 0
    ) -> None:
        self.store = store
        self.progress = progress
        self.config = config
        self.pace = SimilarPace(store.due_similar(), similar_every_s)

    async def apply_batch(
        self, progress_name: str, portions: list[UserPortion], redo: dict[int, str]
    ) -> ItemBatchResult:
        """Expand, record the decisions, apply (items, then users), commit. ``redo`` holds
        the recorded decisions of partitions whose half-applied batch is being redone.
        Under the pace's lock: the timer's round never reads or keeps a row mid-apply."""
        async with self.pace.lock:
            return await self._apply_batch(progress_name, portions, redo)

    async def _apply_batch(
        self, progress_name: str, portions: list[UserPortion], redo: dict[int, str]
    ) -> ItemBatchResult:
        c = self.config
        users = sorted({e.user_id for p in portions for e in p.events})
        histories = await self.store.histories(users)
        counts = await self.store.counts(sorted({e.item_id for p in portions for e in p.events}))
        expanded = []
        plans: dict[int, str] = {}
        for portion in portions:
            deltas = CooccurrenceDeltas()
            recorded = redo.get(portion.partition)
            decided = None if recorded is None else set(json.loads(recorded))
            by_user: dict[str, list[tuple[str, float | None, int]]] = {}
            for e in portion.events:
                by_user.setdefault(e.user_id, []).append((e.item_id, e.rating, e.offset))
            for user, events in by_user.items():
                expand_user_events(
                    histories[user],
                    events,
                    deltas,
                    counts,
                    c.kmax,
                    c.fmax,
                    None if decided is None else decided.__contains__,
                    with_sums=c.similarity == "pearson",
                    window=c.window,
                )
            plans[portion.partition] = json.dumps(deltas.counted_offsets)
            mine = {u: histories[u] for u in by_user}
            expanded.append((portion.partition, portion.end, deltas, mine))
        ends = {p.partition: p.end for p in portions}
        await self.progress.begin(progress_name, ends, plans)
        await self.store.apply(expanded, with_sums=c.similarity == "pearson")
        rated = {e.item_id for p in portions for e in p.events}
        if redo:  # copies an earlier attempt published may be gone with their server
            await self.store.republish_counts(sorted(rated), c.similarity == "pearson")
        await self.progress.commit(progress_name, ends)
        acted = {e.user_id: e.produced_at for p in portions for e in p.events}
        return ItemBatchResult(acted, rated, histories)

    async def finish(self, result: ItemBatchResult) -> None:
        """Re-score the rated items' similar lists (as their pace allows), then the acting
        users' lists."""
        await self.pace.in_batch(result.rated, self.rescore)
        users = sorted(result.acted)
        await self.store.write_user_lists(await self.ranked(users, result.histories), result.acted)
        now = time.time()
        for produced_at in result.acted.values():
            metrics.ITEM_FRESHNESS.observe(max(0.0, now - produced_at))

    async def rescore_due(self, quiet: bool) -> int:
        """The similar lists due with no batch to re-score them (the worker's timer)."""
        return await self.pace.rescore_due(self.rescore, quiet)

    async def rescore(self, items: list[str], unproven: set[str] | None = None) -> None:
        """The similar lists of ``items``; copies of ``unproven`` rows are checked first
        (taken from the due set: another worker may have moved them)."""
        if not items:
            return
        if self.config.similarity == "pearson":
            lists = await self._pearson_lists(items)
        else:
            lists = await self._cosine_lists(items, unproven or set())
        await self.store.write_similar(lists)

    async def _cosine_lists(
        self, items: list[str], unproven: set[str]
    ) -> dict[str, list[tuple[str, float]]]:
        used, read = self.store.copies_used, self.store.rows_read
        rows = await self.store.rows(items, unproven)
        metrics.ITEM_ROWS.labels("copy").inc(self.store.copies_used - used)
        metrics.ITEM_ROWS.labels("redis").inc(self.store.rows_read - read)
        ids = self.store.ids
        own = ids.index(i.encode() for i in items)
        wanted = np.zeros(len(ids), dtype=bool)  # every partner once, without a sort
        wanted[own] = True
        for ps, _c in rows.values():
            wanted[ps] = True
        n = await self.store.counts_at(np.flatnonzero(wanted))
        lists = {}
        for (item, (ps, co)), key in zip(rows.items(), own.tolist(), strict=True):
            sims = cosine_row(co, n[key], n[ps])
            top = most_similar(NamesAt(ids, ps), sims, self.config.similar_size)  # bytes order
            lists[item] = [(j.decode(), s) for j, s in top]
        return lists

    async def _pearson_lists(self, items: list[str]) -> dict[str, list[tuple[str, float]]]:
        rows = await self.store.pair_sums(items)
        own = [i.encode() for i in items]
        wanted = {j for ps, _s in rows.values() for j in ps} | set(own)
        means = await self.store.means(list(wanted))
        lists = {}
        for (item, (ps, sums)), key in zip(rows.items(), own, strict=True):
            partner_means = np.fromiter((means.get(j, 0.0) for j in ps), float, len(ps))
            sims = pearson(sums, means.get(key, 0.0), partner_means, self.config.min_support)
            top = most_similar(ps, sims, self.config.similar_size)
            lists[item] = [(j.decode(), s) for j, s in top]
        return lists

    async def ranked(
        self, users: list[str], known: dict[str, UserHistory] | None = None
    ) -> dict[str, list[tuple[str, float, str]]]:
        """Item-to-item lists of ``users`` (histories read unless the batch has them)."""
        c = self.config
        histories = known if known is not None else await self.store.histories(users)
        recent = {u: h.recent(c.recent) for u, h in histories.items()}
        needed = sorted({i for r in recent.values() for i, _r in r})
        similar = await self.store.similar(needed, c.similar_size)
        out = {}
        for u in users:
            lists = [similar[i] for i, _r in recent[u]]
            top = score_recent(recent[u], lists, histories[u].rated(), c.decay, c.topn_size)
            kept = stored_scores([(i, s) for i, s, _b in top])
            out[u] = [(i, s, b) for (i, s), (_i, _s, b) in zip(kept, top, strict=True)]
        return out
