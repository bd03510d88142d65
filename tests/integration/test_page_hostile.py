"""Stored XSS: hostile item ids, titles, genres, reasons and user ids put into Redis
(as a posted rating or a described item would put them) are shown by the live page as
text, and no script of theirs runs. Playwright drives Debian's Chromium."""

import asyncio
import threading
import time
import uuid

import pytest
import redis
import redis.asyncio as aioredis
import uvicorn

from app.main import create_app
from app.settings import ReaderSettings
from streams.engines.served import Fuser
from streams.settings import BlendSettings, KafkaConnection, RedisConnection
from streams.state import keys
from streams.state.served import ServedStore
from tests.conftest import free_port
from tests.integration.test_reader_routes import CHROMIUM_FLAGS

pytestmark = pytest.mark.integration

# each would run script if the page put it into HTML unescaped (or escaped only for text)
HOSTILE_IDS = [
    'x" style="animation-name:glow" onanimationstart="window.__pwned=1;alert(1)',
    "x' style='animation-name:glow' onanimationstart='window.__pwned=2",
    '"><img src=x onerror="window.__pwned=3">',
    "</td></tr><svg onload=window.__pwned=4>",
    "<script>window.__pwned=5</script>",
]
HOSTILE_TITLES = [
    '<img src=x onerror="window.__pwned=6;alert(6)">',
    "</td><script>window.__pwned=7</script>",
    '" onmouseover="window.__pwned=8',
    "&lt;b&gt;entity&lt;/b&gt; & <b>bold</b>",
    "<iframe srcdoc='<script>parent.__pwned=9</script>'></iframe>",
]
HOSTILE_NEIGHBOURS = ['n"><img src=x onerror=window.__pwned=10>', "<svg/onload=alert(11)>"]
REASON_ITEM = "r<img src=x onerror=window.__pwned=12>"
REASON_TITLE = '<img src=x onerror="window.__pwned=13">'
GENRE = "<img src=x onerror=window.__pwned=14>"


async def _fuse(url: str, user: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        fuser = Fuser(ServedStore(client), BlendSettings().weights(), 50)
        await fuser.refresh_globals()
        assert await fuser.fuse([user]) == 1
    finally:
        await client.aclose()


@pytest.fixture
def hostile_redis(services):
    """Hostile entries on db 4 (popularity scored above anything real), removed afterwards."""
    url = services.redis.rsplit("/", 1)[0] + "/4"
    client = redis.Redis.from_url(url)
    user = f"page-{uuid.uuid4().hex[:8]}"
    items = [f"{h}-{uuid.uuid4().hex[:4]}" for h in HOSTILE_IDS]
    written = [keys.user_state(user), keys.user_item_topn(user), keys.user_item_reasons(user)]
    written += [keys.user_neighbours(user), keys.item_meta(REASON_ITEM)]
    pipe = client.pipeline()
    pipe.zadd(keys.popular(), {item: 1e300 * (n + 1) for n, item in enumerate(items)})
    for item, title in zip(items, HOSTILE_TITLES, strict=True):
        pipe.hset(
            keys.item_meta(item),
            mapping={"title": title, "attributes": f'{{"genres":["{GENRE}"]}}'},
        )
        written.append(keys.item_meta(item))
    pipe.hset(keys.user_state(user), mapping={"count": 5})
    pipe.zadd(keys.user_item_topn(user), {items[0]: 9.0, items[1]: 8.0})
    pipe.hset(keys.user_item_reasons(user), mapping={items[0]: REASON_ITEM, items[1]: REASON_ITEM})
    pipe.hset(keys.item_meta(REASON_ITEM), mapping={"title": REASON_TITLE})
    pipe.zadd(
        keys.user_neighbours(user), {v: 0.9 - n / 10 for n, v in enumerate(HOSTILE_NEIGHBOURS)}
    )
    pipe.execute()
    asyncio.run(_fuse(url, user))  # the served list, as the worker's fuser stores it
    written += [keys.user_served(user), keys.served_popular(), keys.served_times()]
    try:
        yield url, user, items
    finally:
        client.zrem(keys.popular(), *items)
        client.delete(*written)


@pytest.fixture
def reader_url(services, hostile_redis):
    url, _user, _items = hostile_redis
    reader = ReaderSettings(
        kafka=KafkaConnection(bootstrap_servers=services.kafka), redis=RedisConnection(url=url)
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(reader), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_hostile_ids_and_titles_are_shown_as_text_and_run_nothing(hostile_redis, reader_url):
    from playwright.sync_api import sync_playwright

    _url, user, items = hostile_redis
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.add_init_script(
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " (e) => window.__violations.push(e.violatedDirective));"
        )
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{reader_url}/?user={user}")
        page.locator("#nbrs tbody tr").first.wait_for(timeout=10_000)
        page.wait_for_function(
            "n => document.querySelectorAll('#recs tbody tr').length >= n",
            arg=len(items),
            timeout=10_000,
        )
        page.wait_for_timeout(1_500)  # several refreshes: rows re-rendered as "new", animated
        rows = page.locator("#recs tbody tr").evaluate_all(
            "rows => rows.map(r => ({item: r.dataset.item, movie: r.cells[1].firstChild.data,"
            " genres: r.cells[1].querySelector('.genres').textContent,"
            " reason: r.cells[3].textContent}))"
        )
        neighbours = page.locator("#nbrs tbody tr td:first-child").all_text_contents()
        injected = page.evaluate(
            "[...document.querySelectorAll('main :is(img, svg, iframe, script), table b')]"
            ".map(e => e.outerHTML.slice(0, 80))"
        )
        pwned = page.evaluate("window.__pwned")
        violations = page.evaluate("window.__violations")
        browser.close()
    shown = {r["item"]: r for r in rows}
    for item, title in zip(items, HOSTILE_TITLES, strict=True):
        assert item in shown, (item, list(shown))  # the attribute holds the id, unbroken
        assert shown[item]["movie"] == title and shown[item]["genres"] == GENRE
    assert shown[items[0]]["reason"] == f"because you rated {REASON_TITLE}"
    assert neighbours == HOSTILE_NEIGHBOURS
    assert pwned is None and dialogs == [] and injected == [], injected
    assert violations == []  # nothing even tried to run: the escaping held on its own


def test_the_page_is_served_with_a_strict_policy(reader_url):
    import urllib.request

    with urllib.request.urlopen(f"{reader_url}/") as response:
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"].startswith("'sha256-")
    assert directives["style-src"].startswith("'sha256-")
    assert "unsafe" not in policy and directives["frame-ancestors"] == "'none'"
    with urllib.request.urlopen(f"{reader_url}/v1/popular") as response:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
