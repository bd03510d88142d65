"""The reader's routes against real Redis filled by the real worker from the real broker."""

import ast
import json
import subprocess
import sys
import uuid
from urllib.parse import unquote

import pytest
import redis
from fastapi.testclient import TestClient

from app import fast
from app.main import create_app
from app.settings import ReaderSettings
from streams.algo import blend
from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.producer import EventProducer
from streams.schemas.items import ItemEvent
from streams.schemas.ratings import RatingEvent
from streams.settings import (
    BlendSettings,
    KafkaConnection,
    RedisConnection,
    TopicSettings,
    WorkerSettings,
)
from streams.state import keys
from streams.state.codecs import decode_ranking
from streams.topics import create_topics, delete_topics, topic_specs
from tests.conftest import worker_env
from tests.reference import Reference, final_ratings

pytestmark = pytest.mark.integration
KEY = "routes-key"
SPEC = SyntheticSpec(events=2_500, users=60, items=50, rerate_share=0.05, delete_share=0.02)


@pytest.fixture(scope="module")
def filled(services):
    tag = uuid.uuid4().hex[:10]
    url = services.redis.rsplit("/", 1)[0] + "/4"
    redis.Redis.from_url(url).flushdb()
    settings = WorkerSettings(
        app_id=f"streamrec-reader-{tag}",
        kafka=KafkaConnection(bootstrap_servers=services.kafka),
        redis=RedisConnection(url=url),
        topics=TopicSettings(ratings=f"r{tag}.ratings", items=f"r{tag}.items", dlq=f"r{tag}.dlq"),
        metrics_port=0,
        data_dir=f"/tmp/streamrec-test-{tag}",
    )
    specs = topic_specs(settings.topics)
    create_topics(settings.kafka, specs)
    events = list(generate(SPEC))
    worker = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=worker_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with EventProducer(settings.kafka) as producer:
            for n in range(SPEC.items):
                item = ItemEvent(f"i{n}", f"Movie {n}", {"genres": ["Drama"], "year": 1990 + n})
                producer.send_item(settings.topics.items, item)
            for event in events:
                producer.send_rating(settings.topics.ratings, event)
        assert wait_idle(settings, timeout=240)
        reader = ReaderSettings(
            kafka=settings.kafka, redis=settings.redis, topics=settings.topics, api_key=KEY
        )
        with TestClient(create_app(reader), headers={"X-API-Key": KEY}) as client:
            yield client, settings, events, worker
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        internal = [settings.by_item_topic, f"{settings.app_id}-__assignor-__leader"]
        delete_topics(settings.kafka, [s.name for s in specs] + internal)


def test_recommendations_of_a_known_user(filled):
    client, _settings, events, _w = filled
    user = events[0].user_id
    body = client.get(f"/v1/users/{user}/recommendations", params={"n": 5}).json()
    assert body["source"] == "blend" and body["computed_at"] > 0
    scores = [item["score"] for item in body["items"]]
    assert len(scores) == 5 and all(s > 0 for s in scores)
    assert all(0 <= item["match"] <= 100 for item in body["items"])
    rated = {i for (u, i) in final_ratings(events) if u == user}
    assert not rated & {item["item_id"] for item in body["items"]}
    assert all(item["title"].startswith("Movie ") for item in body["items"])
    assert all(item["source"] == item["sources"][0] for item in body["items"])


def test_each_source_alone_and_the_blend_built_from_them(filled):
    client, _settings, events, _w = filled
    user = events[-1].user_id
    rated = {i for (u, i) in final_ratings(events) if u == user}
    lists = {}
    for source in ("item-cf", "user-cf", "popular"):
        body = client.get(f"/v1/users/{user}/recommendations", params={"n": 50, "source": source})
        assert body.status_code == 200 and body.json()["source"] == source
        lists[source] = [(i["item_id"], i["score"]) for i in body.json()["items"]]
        assert lists[source] and not rated & {i for i, _s in lists[source]}
    by_item = client.get(f"/v1/users/{user}/recommendations", params={"n": 50, "source": "item-cf"})
    for item in by_item.json()["items"]:
        assert item["because_item"] in rated and item["because_title"].startswith("Movie ")
    weights = {"item-cf": 1.0, "user-cf": 0.05, "popular": 0.05}  # the defaults, spelled out
    reasons = {i["item_id"]: i["because_item"] for i in by_item.json()["items"]}
    fused = blend.fuse(lists, weights, 10 + blend.DEPTH)
    want = [i for i, _s, _x in blend.diversify(fused, reasons, blend.PER_REASON, 10)]
    got = client.get(f"/v1/users/{user}/recommendations", params={"n": 10}).json()["items"]
    assert [i["item_id"] for i in got] == want
    bad = client.get(f"/v1/users/{user}/recommendations", params={"source": "magic"})
    assert bad.status_code == 422 and "source must be one of" in bad.json()["detail"]


def test_every_served_list_is_the_blend_of_the_current_source_lists(filled):
    """After the stream: each user's stored list is the fusion of their sources as they
    stand now (no fusion from older lists won), and its items carry the catalogue's
    titles."""
    client, _settings, events, _w = filled
    blending = BlendSettings()
    weights = blending.weights()
    stale = []
    for user in sorted({e.user_id for e in events}):
        lists = {}
        for source in blend.SOURCES:
            params = {"n": blend.DEPTH, "source": source}
            body = client.get(f"/v1/users/{user}/recommendations", params=params).json()
            lists[source] = [(i["item_id"], i["score"]) for i in body["items"]]
            if source == "item-cf":
                reasons = {i["item_id"]: i["because_item"] for i in body["items"]}
        rated = {i for (u, i) in final_ratings(events) if u == user}
        want, label = blend.serve(
            lists, weights, len(rated), 50, reasons=reasons, per_reason=blending.per_reason
        )
        served = client.get(f"/v1/users/{user}/recommendations", params={"n": 50}).json()
        got = [(i["item_id"], i["sources"]) for i in served["items"]]
        if got != [(i, s) for i, _x, s in want] or served["source"] != label:
            stale.append(user)
        assert all(i["title"].startswith("Movie ") for i in served["items"])
    assert not stale, f"{len(stale)} served lists are not the blend of their sources: {stale[:5]}"


def test_one_redis_cli_command_returns_what_the_api_serves(filled):
    """The documented direct read (docs/redis-schema.md) gives the HTTP body's bytes."""
    client, settings, events, _w = filled
    url = settings.redis.url
    for user in sorted({e.user_id for e in events})[:20]:
        key = keys.user_served(user)
        command = ["redis-cli", "-u", url, "--no-raw", "HGET", key, "doc"]
        quoted = subprocess.run(command, capture_output=True, check=True).stdout.strip()
        stored = ast.literal_eval(quoted.decode())  # redis-cli prints a quoted string
        body = client.get(f"/v1/users/{user}/recommendations", params={"n": 50})
        assert body.status_code == 200 and body.content == stored.encode()
        short = client.get(f"/v1/users/{user}/recommendations", params={"n": 3}).json()
        assert short["items"] == json.loads(stored)["items"][:3]


def test_similar_items_are_the_stored_cosines(filled):
    client, settings, events, _w = filled
    item = events[-1].item_id
    rows = client.get(f"/v1/items/{item}/similar", params={"n": 5}).json()
    assert rows and len(rows) <= 5
    sims = [r["similarity"] for r in rows]
    assert sims == sorted(sims, reverse=True) and all(0 < s <= 1 for s in sims)
    raw = redis.Redis.from_url(settings.redis.url).get(keys.item_similar(item))
    stored = dict(decode_ranking(raw))[rows[0]["item_id"]]
    assert stored == sims[0]
    assert client.get(f"/v1/items/{item}/similar", params={"kind": "tags"}).status_code == 422


def test_an_unknown_user_gets_the_popular_list(filled):
    client, *_ = filled
    body = client.get("/v1/users/nobody-at-all/recommendations").json()
    assert body["source"] == "popular" and body["items"]
    assert all(item["source"] == "popular" for item in body["items"])


def test_similarity_neighbours_and_predictions_match_the_reference(filled):
    client, settings, events, _w = filled
    c = settings.user_cf
    ref = Reference(final_ratings(events))
    user = ref.users[3]
    neighbours = client.get(f"/v1/users/{user}/neighbors", params={"k": 10}).json()
    assert neighbours and len(neighbours) <= 10
    for row in neighbours:
        want = ref.similarity(user, row["user_id"], c.min_support, c.shrinkage)
        assert abs(row["similarity"] - want) < 1e-9
        assert row["support"] == ref.pair_sums(user, row["user_id"])[0] >= c.min_support
        pair = client.get(f"/v1/users/{user}/similarity/{row['user_id']}").json()
        assert abs(pair["similarity"] - row["similarity"]) < 1e-9
        assert abs(pair["pearson"] - ref.similarity(user, row["user_id"])) < 1e-9
    for item in ref.items[:10]:
        got = client.get(f"/v1/users/{user}/predict/{item}").json()
        want = ref.predict(user, item, 40, (0.5, 5.0), c.min_support, c.shrinkage, c.damping)
        assert abs(got["prediction"] - want) < 1e-9
        assert abs(got["baseline"] - ref.baseline(user, item, *c.damping)) < 1e-9
    assert client.get(f"/v1/users/{user}/similarity/stranger").json()["support"] == 0


def test_predict_reads_the_smaller_side_and_answers_as_the_reference(filled):
    """/predict reads the item's raters or the user's pairs whole, whichever is smaller,
    and the other only where they meet: both ways give the reference's prediction."""
    client, settings, events, _w = filled
    r = redis.Redis.from_url(settings.redis.url)
    raters = {i: r.hlen(keys.item_raters(i)) for i in {e.item_id for e in events}}
    # a newcomer who rated three rarely rated items has few pairs; taken from one user's
    # history so that the newcomer shares them all with that user (a neighbour above the
    # minimum support) whose other ratings can carry a prediction
    standing = final_ratings(events)
    rated = {}
    for u, i in standing:
        rated.setdefault(u, set()).add(i)

    def rarest(u):  # u's three least rated items, by u's own rating: the newcomer agrees
        return sorted(sorted(rated[u], key=raters.get)[:3], key=lambda i: standing[u, i])

    fit = [u for u in rated if len(rated[u]) >= 4 and len({standing[u, i] for i in rarest(u)}) > 1]
    guide = min(fit, key=lambda u: len(rated[u]))
    rare = rarest(guide)
    mine = [
        RatingEvent("newcomer", i, r, 1.7e9) for i, r in zip(rare, (1.0, 3.0, 5.0), strict=True)
    ]
    body = [{"user_id": e.user_id, "item_id": e.item_id, "rating": e.rating} for e in mine]
    assert client.post("/v1/ratings", json=body).status_code == 202
    assert wait_idle(settings, timeout=120)
    events = [*events, *mine]
    ref = Reference(final_ratings(events))
    pairs = {u: r.hlen(keys.user_pairs(u)) for u in ref.users}
    raters = {i: r.hlen(keys.item_raters(i)) for i in ref.items}
    cases = [
        (u, i) for u in sorted(pairs, key=pairs.get)[:3] + sorted(pairs, key=pairs.get)[-3:]
        for i in sorted(raters, key=raters.get)[:3] + sorted(raters, key=raters.get)[-3:]
    ]  # fmt: skip
    sides = {raters[i] <= pairs[u] for u, i in cases}
    assert sides == {True, False}  # both ways are taken
    c = settings.user_cf
    significance = (c.min_support, c.shrinkage, c.damping)
    hot = max(rated[guide] - set(rare), key=raters.get)
    assert c.damping is not None  # the default: predictions deviate from the baseline
    assert ref.predict("newcomer", hot, 40, (0.5, 5.0), *significance) != ref.baseline(
        "newcomer", hot, *c.damping
    )  # the few pairs it has carry the prediction
    for u, i in cases:
        got = client.get(f"/v1/users/{u}/predict/{i}").json()
        want = ref.predict(u, i, 40, (0.5, 5.0), *significance)
        assert abs(got["prediction"] - want) < 1e-9, (u, i)


def test_because_explains_an_item_on_the_list(filled):
    client, _settings, events, _w = filled
    user = events[0].user_id
    params = {"n": 1, "source": "user-cf"}
    top = client.get(f"/v1/users/{user}/recommendations", params=params).json()["items"][0]
    why = client.get(f"/v1/users/{user}/recommendations/{top['item_id']}/because").json()
    assert why["on_list"] and abs(why["score"] - top["score"]) < 1e-9
    assert "user-cf" in why["sources"]
    assert why["neighbours"] and all(n["similarity"] > 0 for n in why["neighbours"])
    params = {"n": 1, "source": "item-cf"}
    top = client.get(f"/v1/users/{user}/recommendations", params=params).json()["items"][0]
    why = client.get(f"/v1/users/{user}/recommendations/{top['item_id']}/because").json()
    assert "item-cf" in why["sources"] and why["because_item"] == top["because_item"]


def test_predict_and_because_can_hide_other_users_ratings(filled):
    """Shown by default (the local reader); hidden with ``hide_neighbour_ratings`` (the
    chart's and compose's default): no other user's id or rating, only aggregates."""
    client, settings, events, _w = filled
    user = events[0].user_id
    params = {"n": 1, "source": "user-cf"}
    item = client.get(f"/v1/users/{user}/recommendations", params=params).json()["items"][0]
    predicted = client.get(f"/v1/users/{user}/predict/{item['item_id']}").json()
    why = client.get(f"/v1/users/{user}/recommendations/{item['item_id']}/because").json()
    assert predicted["neighbours"] and not predicted["neighbours_hidden"]
    assert predicted["neighbour_count"] == len(predicted["neighbours"])
    ratings = [n["rating"] for n in why["neighbours"]]
    assert len(ratings) >= 3 and why["similar_raters"] == len(ratings)
    assert abs(why["similar_mean"] - sum(ratings) / len(ratings)) < 1e-9
    assert f"{len(ratings)} similar users rated it, mean" in why["summary"]
    others = {n["user_id"] for n in predicted["neighbours"] + why["neighbours"]}

    private = ReaderSettings(
        kafka=settings.kafka, redis=settings.redis, topics=settings.topics,
        hide_neighbour_ratings=True,
    )  # fmt: skip
    with TestClient(create_app(private)) as hiding:
        got = hiding.get(f"/v1/users/{user}/predict/{item['item_id']}")
        because = hiding.get(f"/v1/users/{user}/recommendations/{item['item_id']}/because")
    assert got.json()["neighbours"] == [] and got.json()["neighbours_hidden"]
    assert got.json()["neighbour_count"] == predicted["neighbour_count"]
    assert got.json()["prediction"] == predicted["prediction"]
    hidden = because.json()
    assert hidden["neighbours"] == [] and hidden["neighbours_hidden"]
    assert hidden["similar_raters"] == len(ratings)
    assert hidden["similar_mean"] == round(sum(ratings) / len(ratings), 1)
    assert (
        hidden["summary"]
        == f"{len(ratings)} similar users rated it, mean {hidden['similar_mean']:.1f}"
    )
    for text in (got.text, because.text):
        assert not [v for v in others if f'"{v}"' in text and v != user]


def test_items_and_popular(filled):
    client, *_ = filled
    assert client.get("/v1/items/i3").json()["attributes"]["year"] == 1993
    assert client.get("/v1/items/not-there").status_code == 404
    popular = client.get("/v1/popular", params={"n": 3}).json()
    assert len(popular) == 3 and popular[0]["score"] >= popular[-1]["score"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/users/u1/recommendations?n=0", 422),
        ("/v1/users/u1/recommendations?n=100000", 422),
        ("/v1/users/u1/recommendations?n=abc", 422),
        ("/v1/users/u1/neighbors?k=-1", 422),
        ("/v1/users/" + "x" * 300 + "/recommendations", 422),
        ("/v1/users/%20/recommendations", 422),
        ("/v1/users/%7Bu1%7D/recommendations", 200),  # braces cannot reach another key
        ("/v1/users/a%7D%3Ab/neighbors", 200),
        ("/v1/items/%7Bi1%7D", 404),
    ],
)
def test_bad_or_hostile_input_is_a_4xx_or_harmless(filled, path, status):
    client, *_ = filled
    response = client.get(path)
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["detail"]


def test_posting_ratings_reaches_the_stream(filled):
    client, settings, _events, _w = filled
    accepted = client.post(
        "/v1/ratings", json=[{"user_id": "http-user", "item_id": "i1", "rating": 4}]
    )
    assert accepted.status_code == 202 and len(accepted.json()["event_ids"]) == 1
    refused = client.post("/v1/ratings", json={"user_id": "x", "item_id": "i1", "rating": 99})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["reason"] == "rating_out_of_range"
    assert wait_idle(settings, timeout=120)
    stored = redis.Redis.from_url(settings.redis.url).hgetall(keys.user_ratings("http-user"))
    assert stored == {b"i1": b"4"}


def test_writes_need_the_key_when_one_is_configured(filled):
    _client, settings, _events, _w = filled
    reader = ReaderSettings(
        kafka=settings.kafka, redis=settings.redis, topics=settings.topics, api_key="s3cret"
    )
    body = {"user_id": "k", "item_id": "i1", "rating": 3}
    with TestClient(create_app(reader)) as client:
        assert client.post("/v1/ratings", json=body).status_code == 401
        wrong = client.post("/v1/ratings", json=body, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        empty = client.post("/v1/ratings", json=body, headers={"X-API-Key": ""})
        assert empty.status_code == 401
        right = client.post("/v1/ratings", json=body, headers={"X-API-Key": "s3cret"})
        assert right.status_code == 202
    closed = ReaderSettings(kafka=settings.kafka, redis=settings.redis, topics=settings.topics)
    with TestClient(create_app(closed)) as client:
        refused = client.post("/v1/ratings", json=body)
        assert refused.status_code == 403 and "STREAMREC_API_KEY" in refused.json()["detail"]


def test_page_metrics_and_stats(filled):
    client, *_ = filled
    assert "<title>streamrec</title>" in client.get("/").text
    client.get("/v1/users/u1/recommendations")
    metrics = client.get("/metrics").text
    assert (
        'streamrec_reader_requests_total{method="GET",route="/v1/users/{user_id}/recommendations",status="200"}'
        in metrics
    )
    assert client.get("/v1/stats").json()["events"] >= SPEC.events


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def test_browser_rates_a_movie_and_sees_the_list_change(filled, tmp_path):
    """Playwright drives Debian's Chromium: open the page, rate the top movie (with the
    write key typed into the page), watch it go."""
    import threading
    import time
    from pathlib import Path

    import uvicorn
    from playwright.sync_api import sync_playwright

    from tests.conftest import free_port

    _client, settings, events, _w = filled
    reader = ReaderSettings(
        kafka=settings.kafka, redis=settings.redis, topics=settings.topics, api_key=KEY
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(reader), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    user = events[5].user_id
    artifacts = Path("tests/artifacts")
    artifacts.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            page.goto(f"http://127.0.0.1:{port}/?user={user}")
            first = page.locator("#recs tbody tr").first
            first.wait_for(timeout=10_000)
            item = first.get_attribute("data-item")
            before = page.locator("#recs tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.item)"
            )
            page.fill("#item", item)
            page.select_option("#stars", "5")
            page.click("#rate")  # writes need the key: refused until the viewer gives it
            page.wait_for_function(
                "() => document.getElementById('flash').textContent.includes('X-API-Key')"
            )
            page.fill("#key", KEY)
            page.click("#rate")
            page.wait_for_function(
                "item => ![...document.querySelectorAll('#recs tbody tr')]"
                ".some(r => r.dataset.item === item)",
                arg=item,
                timeout=15_000,
            )  # rated items leave the list: the stream applied it and the page noticed
            after = page.locator("#recs tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.item)"
            )
            page.locator("#nbrs tbody tr").first.wait_for(timeout=10_000)
            page.screenshot(path=str(artifacts / "reader-page.png"), full_page=True)
            browser.close()
        assert item in before and item not in after
        stored = redis.Redis.from_url(settings.redis.url).hget(keys.user_ratings(user), item)
        assert stored == b"5"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


FAST_FORMS = ["", "?n=5", "?n=1", "?n=50", "?n=1000", "?source=blend", "?n=7&source=blend"]
ROUTE_FORMS = [
    "?n=0", "?n=05", "?n=1001", "?n=abc", "?n=", "?n=5&n=6", "?source=item-cf",
    "?source=%62lend", "?n=5&x=1", "?n", "?n=+5", "?n=99999",
]  # fmt: skip


def test_the_fast_route_answers_byte_for_byte_as_the_route(filled):
    """The same requests with app.fast on (the default) and off: every status, header
    and byte equal; and the common forms never reached FastAPI's route."""
    client, settings, events, _w = filled
    # earlier tests post ratings: the lists must stop changing, or the two reads of one
    # request could see two versions of a list
    assert wait_idle(settings, timeout=240)
    reader = ReaderSettings(redis=settings.redis, topics=settings.topics, fast_route=False)
    users = [*sorted({e.user_id for e in events})[:20], "nobody-knows-me", "éü", "%7Bu1%7D"]
    users += ["%20", "x" * 300, "%F0%9F%98%80", "a%2Fb"]
    reached = []
    layer = client.app.middleware_stack
    while not isinstance(layer, fast.FastRecommendations):
        layer = layer.app
    onward = layer.app

    async def counting(scope, receive, send):  # what the layer passes on to FastAPI
        reached.append((scope["path"], scope["query_string"].decode()))
        await onward(scope, receive, send)

    layer.app = counting
    try:
        with TestClient(create_app(reader)) as slow:
            for user in users:
                for form in FAST_FORMS + ROUTE_FORMS:
                    url = f"/v1/users/{user}/recommendations{form}"
                    fast_answer, slow_answer = client.get(url), slow.get(url)
                    assert fast_answer.status_code == slow_answer.status_code, url
                    assert fast_answer.content == slow_answer.content, url
                    assert fast_answer.headers == slow_answer.headers, url
    finally:
        layer.app = onward
    refused = {"%20", "x" * 300}  # blank, too long: the route answers 422
    expected = [
        (f"/v1/users/{unquote(user)}/recommendations", form.lstrip("?"))
        for user in users
        for form in FAST_FORMS + ROUTE_FORMS
        if form in ROUTE_FORMS or user in refused or "/" in unquote(user)
    ]  # a%2Fb is a/b: no such route, FastAPI answers 404
    assert sorted(reached) == sorted(expected)
