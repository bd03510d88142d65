"""One micro-batch of the content and embedding paths: learn the embedding exactly once,
then rewrite the acting users' content and embedding lists and the rated items' similar
lists; and the catalogue's content similar lists when the catalogue changes.

No Kafka here (the agents hand in events of one ratings partition in offset order, as
for ``streams.engines.itemcf``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from streams import metrics
from streams.algo.content import ContentConfig, vectors
from streams.algo.content import profile as content_profile
from streams.algo.embedding import EmbeddingConfig
from streams.algo.embedding import model as embedding
from streams.algo.embedding.plan import ModelView, PortionPlan, UserView, plan_portion
from streams.engines.itemcf import UserPortion
from streams.engines.pace import SimilarPace
from streams.state.hybrid import HybridStore
from streams.state.usercf import Store


@dataclass
class HybridResult:
    acted: dict[str, float]  # user → latest produce time
    rated: set[str]
    users: dict[str, UserView]  # acting users after the batch
    model: ModelView


class HybridEngine:
    def __init__(
        self,
        store: HybridStore,
        progress: Store,
        content: ContentConfig,
        config: EmbeddingConfig,
        neural: bool,
        topn_size: int,
        similar_every_s: float = 0,
    ) -> None:
        self.store, self.progress = store, progress
        # the batches only defer, the timer scores from the model read after its take
        # (a batch's model was read before): these lists feed only /similar?kind=embedding
        self.pace = SimilarPace(store.due_similar(), similar_every_s, take_in_batch=False)
        self.content, self.config, self.neural = content, config, neural
        self.topn_size = topn_size
        self.version = -1
        self.catalogue = vectors.build({}, content)
        self.features: dict[str, np.ndarray] = {}
        self.written: dict[str, list[tuple[str, float]]] = {}  # content lists as last written
        self._initial: dict[str, np.ndarray] = {}  # seeded first rows of items
        self._shape_checked = False

    # --- catalogue ---------------------------------------------------------------------
    async def refresh_catalogue(self) -> bool:
        """Reload the catalogue's vectors if it changed since the last look."""
        version = await self.store.catalogue_version()
        if version == self.version:
            return False
        items = await self.store.catalogue()
        self.catalogue = vectors.build(items, self.content)
        self.features = {i: embedding.features(v["attributes"]) for i, v in items.items()}
        self.version = version
        return True

    async def rescore_content(self) -> int:
        """Every item's content similar list from the current catalogue; writes the ones
        that changed. Exact (IDF moves with the catalogue, so all rows are recomputed):
        N² · width multiply-adds per catalogue batch, 0.4 s at 1,682 items and 6 s at
        10,000 on two cores (docs/algorithm.md), in a thread so the event loop keeps
        the consumer's heartbeats going."""
        for _attempt in range(3):
            await self.refresh_catalogue()
            version = self.version
            rows = list(range(len(self.catalogue)))
            size = self.content.similar_size
            lists = await asyncio.to_thread(vectors.similar_rows, self.catalogue, rows, size)
            changed = {i: ls for i, ls in lists.items() if self.written.get(i) != ls}
            await self.store.write_similar("content", changed)
            self.written.update(changed)
            if await self.store.catalogue_version() == version:
                return len(changed)
        return 0

    # --- embedding ---------------------------------------------------------------------
    def _x(self, item: str) -> np.ndarray | None:
        """The network's input for ``item`` (an item without attributes: the constant)."""
        if not self.neural:
            return None
        x = self.features.get(item)
        return embedding.features(None) if x is None else x

    async def apply_batch(
        self, progress_name: str, portions: list[UserPortion], redo: dict[int, str]
    ) -> HybridResult:
        """Plan (or take the recorded plan of a redone partition), record, apply, commit;
        under the pace's lock, as ``ItemEngine.apply_batch``."""
        async with self.pace.lock:
            return await self._apply_batch(progress_name, portions, redo)

    async def _apply_batch(
        self, progress_name: str, portions: list[UserPortion], redo: dict[int, str]
    ) -> HybridResult:
        await self.refresh_catalogue()
        await self._check_shape()
        c = self.config
        partition_of = {e.user_id: p.partition for p in portions for e in p.events}
        model, users = await self._load(partition_of)
        plans: list[PortionPlan] = []
        for portion in portions:
            recorded = redo.get(portion.partition)
            if recorded is not None:
                plans.append(PortionPlan.decode(recorded, c.factors + 1))
                continue
            events = [(e.user_id, e.item_id, e.rating, e.offset) for e in portion.events]
            plans.append(
                plan_portion(portion.partition, portion.end, events, model, users, self._x, c)
            )
        ends = {p.partition: p.end for p in portions}
        await self.progress.begin(progress_name, ends, {p.partition: p.encode() for p in plans})
        await self.store.apply(plans, c.factors + 1)
        await self.progress.commit(progress_name, ends)
        if redo:  # the recorded plans moved the state: read what they made
            model, users = await self._load(partition_of)
        acted = {e.user_id: e.produced_at for p in portions for e in p.events}
        rated = {e.item_id for p in portions for e in p.events}
        return HybridResult(acted, rated, users, model)

    async def _load(self, partition_of: dict[str, int]) -> tuple[ModelView, dict[str, UserView]]:
        """The shared model and the batch's users, as Redis holds them now."""
        c = self.config
        model = await self._model()
        users = await self.store.users(
            partition_of, lambda u: embedding.initial_row("u", u, c, False)
        )
        return model, users

    async def _model(self) -> ModelView:
        rows, net, mean = await self.store.model()
        network = None
        if self.neural:
            network = embedding.Network.initial(self.config)
            if net is not None:
                network.flat = net
        return ModelView(rows, network, mean)

    def shape(self) -> str:
        c = self.config
        kind = "neural" if self.neural else "mf"
        return f"{kind},{c.factors},{c.hidden if self.neural else 0},{embedding.FEATURES}"

    async def _check_shape(self) -> None:
        """Refuse to mix embeddings of another shape (factors, hidden units, variant):
        deltas of one size added to rows of another would corrupt both."""
        if self._shape_checked:
            return
        stored = await self.store.shape(self.shape())
        self._shape_checked = stored == self.shape()
        if not self._shape_checked:
            raise RuntimeError(
                f"the embedding in Redis has shape {stored}, this worker is configured for "
                f"{self.shape()}: restore the settings or run `streamrec rebuild`"
            )

    def _initial_item(self, item: str) -> np.ndarray:
        row = self._initial.get(item)
        if row is None:
            row = self._initial[item] = embedding.initial_row("i", item, self.config, self.neural)
        return row

    def item_space(self, model: ModelView) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(ids, biases, embeddings q_i) of every item the catalogue or the model knows;
        an item nobody rated yet has its initial row (neural: its attributes alone)."""
        c = self.config
        ids = sorted(set(self.catalogue.ids) | set(model.items))
        rows = np.array(
            [model.items[i] if i in model.items else self._initial_item(i) for i in ids]
        ).reshape(-1, c.factors + 1)
        q = rows[:, 1:]
        if model.network is not None:
            bare = embedding.features(None)
            x = np.array([self.features.get(i, bare) for i in ids]).reshape(-1, embedding.FEATURES)
            q = q + model.network.embed(x)
        return ids, rows[:, 0], q

    async def finish(self, result: HybridResult) -> None:
        """The acting users' content and embedding lists, the rated items' similar lists."""
        ids, biases, q = self.item_space(result.model)
        index = {i: k for k, i in enumerate(ids)}
        content: dict[str, list[tuple[str, float]]] = {}
        users = sorted(result.acted)
        excludes = []
        for user in users:
            rated = result.users[user].rated
            mean = sum(rated.values()) / len(rated) if rated else 0.0
            content[user] = content_profile.rank(self.catalogue, rated, mean, self.topn_size)
            excludes.append(np.array([index[i] for i in rated if i in index], dtype=np.int64))
        width = self.config.factors + 1
        rows = np.array([result.users[u].row for u in users]).reshape(len(users), width)
        ranked = embedding.rank_many(rows, ids, biases, q, excludes, self.topn_size)
        learned = dict(zip(users, ranked, strict=True))
        await self.store.write_user_lists(content, learned, result.acted)

        async def rescore(items: list[str], _taken: set[str]) -> None:
            await self._write_similar(ids, q, items)  # only at a pace of 0

        await self.pace.in_batch(result.rated, rescore)
        now = time.time()
        for produced_at in result.acted.values():
            metrics.HYBRID_FRESHNESS.observe(max(0.0, now - produced_at))

    async def _write_similar(self, ids: list[str], q: np.ndarray, items: list[str]) -> None:
        """The embedding similar lists of ``items`` (cosine of the item embeddings)."""
        index = {i: k for k, i in enumerate(ids)}
        rows = [index[i] for i in sorted(items) if i in index]
        if not rows:
            return
        norms = np.linalg.norm(q, axis=1)
        unit = q / np.where(norms > 0, norms, 1.0)[:, None]
        similar = vectors.nearest(ids, unit, rows, self.content.similar_size)
        await self.store.write_similar("embedding", similar)

    async def rescore_due(self, quiet: bool) -> int:
        """The embedding similar lists due (the worker's timer), from the model as Redis
        holds it after the take."""

        async def rescore(items: list[str], _taken: set[str]) -> None:
            if items:
                await self.refresh_catalogue()
                ids, _biases, q = self.item_space(await self._model())
                await self._write_similar(ids, q, items)

        return await self.pace.rescore_due(rescore, quiet)
