"""Content and embedding paths on the real broker and Redis: the embedding in Redis
equals the in-memory reference run on the same events, content lists equal the direct
cosine, a new item with attributes only is recommendable, and the reader serves it all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import ReaderSettings
from streams.algo import blend
from streams.algo.content import profile, vectors
from streams.commands.wait_idle import wait_idle
from streams.datasets import movielens
from streams.evaluation.hybrid import EmbeddingModel
from streams.producer import EventProducer
from streams.schemas.items import ItemEvent
from streams.schemas.ratings import RatingEvent
from streams.state import keys
from streams.state.codecs import decode_ranking

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_settings(worker_settings):
    """One ratings partition: the worker then applies events in exactly the reference's
    order, so the factors must agree to float tolerance."""
    topics = worker_settings.topics.model_copy(update={"ratings_partitions": 1})
    return worker_settings.model_copy(update={"topics": topics})


def _rows(raw: dict) -> dict[str, np.ndarray]:
    return {k.decode(): np.frombuffer(v, dtype="<f8") for k, v in raw.items()}


@pytest.mark.timeout(600)
def test_embedding_content_and_cold_start_on_the_real_stack(engine_settings, topics, start_worker):
    settings = engine_settings
    folder = movielens.ensure_ml100k(Path(settings.cache_dir).expanduser() / "datasets")
    items = movielens.load_items(folder)[:400]
    known = {i.item_id for i in items}
    events = [e for e in movielens.load_ratings(folder) if e.item_id in known][:3000]
    start_worker(settings)
    with EventProducer(settings.kafka) as producer:
        for item in items:
            producer.send_item(topics.items, item)
    assert wait_idle(settings, timeout=120)
    client = redis.Redis.from_url(settings.redis.url)
    assert client.scard(keys.catalogue()) == len(items)
    with EventProducer(settings.kafka) as producer:
        for event in events:
            producer.send_rating(topics.ratings, event)
    assert wait_idle(settings, timeout=300)

    # the embedding (neural, the default) equals the reference run event by event
    catalogue = {i.item_id: {"title": i.title, "attributes": i.attributes} for i in items}
    attributes = {i: v["attributes"] for i, v in catalogue.items()}
    reference = EmbeddingModel(settings.embedding, None, True, attributes)
    for offset, e in enumerate(events):
        reference.learn(e.user_id, e.item_id, e.rating, offset, e.ts)
    stored = _rows(client.hgetall(keys.embedding_items()))
    assert set(stored) == {e.item_id for e in events}
    for item, row in stored.items():
        np.testing.assert_allclose(row, reference.rows[reference.index[item]], atol=1e-8)
    net = np.frombuffer(client.hget(keys.embedding_model(), "net"), dtype="<f8")
    np.testing.assert_allclose(net, reference.network.flat, atol=1e-8)  # type: ignore[union-attr]
    mean = np.frombuffer(client.hget(keys.embedding_model(), "mean"), dtype="<f8")
    assert mean[0] == len(events) and abs(mean[1] - sum(e.rating for e in events)) < 1e-9
    user = events[-1].user_id
    row = np.frombuffer(client.hget(keys.user_embedding(user), "row"), dtype="<f8")
    np.testing.assert_allclose(row, reference.users[user], atol=1e-8)

    # content similar lists equal the direct computation over the catalogue
    built = vectors.build(catalogue, settings.content)
    some = items[7].item_id
    want = vectors.similar_rows(built, [built.index[some]], settings.content.similar_size)[some]
    got = decode_ranking(client.get(keys.item_similar_content(some)))
    assert [j for j, _s in got] == [j for j, _s in want]

    # cold start: a new item, attributes only, twin of the user's favourite
    mine = {e.item_id: e.rating for e in events if e.user_id == user}
    favourite = max(sorted(mine), key=lambda i: mine[i])
    twin = catalogue[favourite]
    with EventProducer(settings.kafka) as producer:
        producer.send_item(topics.items, ItemEvent("brand-new", twin["title"], twin["attributes"]))
    assert wait_idle(settings, timeout=120)
    unrated = next(i.item_id for i in items if i.item_id not in mine)
    with EventProducer(settings.kafka) as producer:  # any rating refreshes the user's lists
        producer.send_rating(
            topics.ratings, RatingEvent(user, unrated, 3.0, 1.7e9)
        )  # after ML-100K, not in the future
    assert wait_idle(settings, timeout=120)
    mine[unrated] = 3.0
    reference.learn(user, unrated, 3.0, len(events), 1.7e9)
    reader = ReaderSettings(kafka=settings.kafka, redis=settings.redis, topics=settings.topics)
    with TestClient(create_app(reader)) as http:
        similar = http.get(f"/v1/items/{favourite}/similar", params={"kind": "content"}).json()
        assert similar[0]["item_id"] == "brand-new" and similar[0]["similarity"] > 0.99
        content = http.get(
            f"/v1/users/{user}/recommendations", params={"source": "content", "n": 50}
        ).json()
        listed = [r["item_id"] for r in content["items"]]
        assert "brand-new" in listed and not set(listed) & set(mine)
        built = vectors.build(catalogue | {"brand-new": twin}, settings.content)
        mean_u = sum(mine.values()) / len(mine)
        want = profile.rank(built, mine, mean_u, 50)
        scores = {i: s for i, s in profile.rank(built, mine, mean_u, len(built))}
        got_scores = [r["score"] for r in content["items"]]
        np.testing.assert_allclose(got_scores, [s for _i, s in want], atol=1e-9)
        for r in content["items"]:  # equal scores may tie in either order
            assert abs(scores[r["item_id"]] - r["score"]) < 1e-9
        learned = http.get(
            f"/v1/users/{user}/recommendations", params={"source": "embedding", "n": 50}
        ).json()
        assert learned["items"] and not {r["item_id"] for r in learned["items"]} & set(mine)
        for kind in ("embedding", "cf"):
            assert http.get(f"/v1/items/{unrated}/similar", params={"kind": kind}).json()
        bad = http.get(f"/v1/items/{unrated}/similar", params={"kind": "nope"})
        assert bad.status_code == 422 and "kind must be one of" in bad.json()["detail"]
        target = items[11].item_id
        predicted = http.get(f"/v1/users/{user}/predict/{target}").json()
        assert abs(predicted["embedding"] - reference.predict(user, target)) < 1e-8
        want_blend = blend.stack(
            {"embedding": predicted["embedding"], "user-cf": predicted["prediction"]},
            blend.RATING_WEIGHTS,
            (settings.limits.rating_min, settings.limits.rating_max),
        )
        assert predicted["blend"] == pytest.approx(want_blend, abs=1e-12)
        served = http.get(f"/v1/users/{user}/recommendations").json()
        sources = {s for r in served["items"] for s in r["sources"]}
        assert served["source"] == "blend" and "item-cf" in sources

        # a tombstone removes the item: its description, its lists, its place in others'
        with EventProducer(settings.kafka) as producer:
            producer.send_raw(topics.items, b"brand-new", None)
        assert wait_idle(settings, timeout=120)
        assert not client.exists(
            keys.item_meta("brand-new"), keys.item_similar_content("brand-new")
        )
        assert not client.sismember(keys.catalogue(), "brand-new")
        after = http.get(f"/v1/items/{favourite}/similar", params={"kind": "content"}).json()
        assert after and "brand-new" not in {r["item_id"] for r in after}


def test_a_worker_configured_for_another_embedding_shape_refuses_to_apply(engine_settings):
    import asyncio

    import redis.asyncio as aioredis

    from streams.algo.embedding import EmbeddingConfig
    from streams.engines.hybrid import HybridEngine
    from streams.engines.itemcf import UserEvent, UserPortion
    from streams.state.hybrid import HybridStore
    from streams.state.usercf import Store

    async def apply(factors: int) -> None:
        client = aioredis.Redis.from_url(engine_settings.redis.url)
        engine = HybridEngine(
            HybridStore(client), Store(client), engine_settings.content,
            EmbeddingConfig(factors=factors), True, 10,
        )  # fmt: skip
        portion = UserPortion(0, 0, [UserEvent("u", "i", 4.0, 0, 0.0)])
        try:
            await engine.progress.claim("t#hybrid", 0)  # this process owns partition 0
            await engine.apply_batch("t#hybrid", [portion], {})
        finally:
            await client.aclose()

    asyncio.run(apply(8))
    with pytest.raises(RuntimeError, match="rebuild"):
        asyncio.run(apply(16))
    stored = redis.Redis.from_url(engine_settings.redis.url).hget(keys.embedding_items(), "i")
    assert len(stored) == 9 * 8  # untouched by the refused worker
