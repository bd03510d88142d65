"""Hot items and heavy users on the real Redis, the engine driven directly (no Kafka):
with the caps on the state is the capped reference's (through a crash and an index
rebuild) and one event's work is bounded by the caps, whatever the item's audience.
Bounds are counts (pair entries, commands a script runs, fields stored), never timings."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from streams.algo.usercf import UserCFConfig
from streams.engines.usercf import ByItemEvent, Engine, Portion
from streams.schemas.ratings import RatingEvent
from streams.state import keys
from streams.state.codecs import decode_pairs
from streams.state.usercf import Store
from tests.unit.test_caps import CappedReference, partition_of

pytestmark = pytest.mark.integration

F, H = 5, 4  # fan-out cap, history cap per partition


def portions(events: list[tuple[int, RatingEvent]]) -> list[Portion]:
    """A batch as the pairs agent cuts it: one portion per by-item partition."""
    by: dict[int, list[ByItemEvent]] = {}
    for offset, e in events:
        by.setdefault(partition_of(e.item_id), []).append(
            ByItemEvent(e.user_id, e.item_id, e.rating, offset, 1.6e9, 0.0)
        )
    return [Portion(p, evs[-1].source_offset, evs) for p, evs in sorted(by.items())]


def engine(url: str, fan_out: int, history: int) -> Engine:
    config = UserCFConfig(fan_out_cap=fan_out, history_cap=history)
    return Engine(Store(aioredis.Redis.from_url(url)), config)


def assert_equals_reference(client: redis.Redis, ref: CappedReference, users) -> None:
    expected = {pair: s for pair, s in ref.pairs().items() if s[0] > 0}
    for user in users:
        partners, sums = decode_pairs(client.hgetall(keys.user_pairs(user)))
        assert sorted(partners) == sorted(v for u, v in expected if u == user), user
        for partner, row in zip(partners, sums, strict=True):
            assert np.allclose(row, expected[(user, partner)], atol=1e-9), (user, partner)
        state = client.hmget(keys.user_state(user), ["count", "sum", "sumsq"])
        got = [float(x or 0) for x in state]
        assert np.allclose(got, ref.stats(user), atol=1e-9), user


def test_capped_engine_equals_the_capped_reference_through_a_crash_and_an_index_rebuild(
    engine_settings,
):
    rng = random.Random(13)
    users, items = [f"u{k}" for k in range(30)], [f"i{k}" for k in range(12)]
    stream = []
    for offset in range(900):
        delete = rng.random() < 0.15
        rating = None if delete else rng.choice([1.0, 2.5, 3.0, 4.0, 5.0])
        op = "delete" if delete else "upsert"
        stream.append((offset, RatingEvent(rng.choice(users), rng.choice(items), rating, 0.0, op)))
    url = engine_settings.redis.url
    client = redis.Redis.from_url(url)
    ref = CappedReference(H, F)

    async def run() -> None:
        eng = engine(url, F, H)
        real_apply_items = eng.store.apply_items
        for n, start in enumerate(range(0, len(stream), 30)):
            batch = stream[start : start + 30]
            if n == 5:  # crash after every user applied the batch, before the items

                async def crash(_portions, _moves=None):
                    raise ConnectionError("crash")

                eng.store.apply_items = crash  # type: ignore[method-assign]
                with pytest.raises(ConnectionError):
                    await eng.apply_batch(portions(batch))
                eng.store.apply_items = real_apply_items  # type: ignore[method-assign]
            if n == 10:  # state written before the join index existed: rebuilt on load
                for item in items:
                    client.delete(keys.item_joins(item))
                    client.hdel(keys.item_fence(item), "next_seq")
            await eng.apply_batch(portions(batch))  # (the redo, for batch 5)
            for _o, e in batch:
                ref.apply(e)
            assert_equals_reference(client, ref, users)
        await eng.store.redis.aclose()

    asyncio.run(run())
    counted = Counter()
    for (u, i), seq in ref.seq.items():
        if seq >= 0 and (u, i) in ref.ratings:
            counted[(u, partition_of(i))] += 1
    for (u, p), n in counted.items():
        assert n <= H
        assert int(client.hget(keys.user_state(u), f"h:{p}") or 0) == n


class Monitored:
    """Commands Redis ran on one db (MONITOR), for counting a script's work: the commands
    run inside one script form one uninterrupted run of ``lua`` lines, and a command's
    work is the fields it touches (its arguments after the key: HGET 1, an HMGET or HSET
    of many fields as many; scripts pack many fields per command)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.db = int(url.rsplit("/", 1)[1])
        self.lines: list[tuple[str, int]] = []
        self._ready = threading.Event()

    def __enter__(self) -> Monitored:
        def listen() -> None:
            with self.client.monitor() as monitor:
                self._ready.set()
                while True:  # parsed here: the pieces' boundaries are lost in listen()
                    raw = monitor.connection.read_response()
                    line = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
                    db, client, command = monitor.monitor_re.match(line.split(" ", 1)[1]).groups()
                    pieces = monitor.command_re.findall(command)
                    if int(db) != self.db:
                        continue
                    if pieces == ["ECHO", "monitor-stop"]:
                        return
                    self.lines.append(("lua" if client == "lua" else "tcp", len(pieces)))

        self._thread = threading.Thread(target=listen, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.echo("monitor-stop")
        self._thread.join(30)

    def longest_script(self) -> int:
        """The most fields one script touched."""
        longest = run = 0
        for kind, pieces in self.lines:
            run = run + max(1, pieces - 2) if kind == "lua" else 0
            longest = max(longest, run)
        return longest


def stored_fields(client: redis.Redis) -> int:
    """Entries stored in the db: fields of hashes, members of sorted sets, 1 per string."""
    total = 0
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        total += {b"hash": client.hlen, b"zset": client.zcard}.get(kind, lambda _k: 1)(key)
    return total


async def _rate(eng: Engine, events: list[tuple[int, RatingEvent]]) -> None:
    for start in range(0, len(events), 200):
        await eng.apply_batch(portions(events[start : start + 200]))


def one_event_on_a_hot_item(url: str, raters: int, fan_out: int) -> tuple[int, int, int]:
    """(newcomer's partners, new stored entries, longest script) for one event on an item
    that ``raters`` users already rate."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    crowd = [(k, RatingEvent(f"u{k}", "i0", 1.0 + k % 5, 0.0, "upsert")) for k in range(raters)]

    async def build() -> None:
        eng = engine(url, fan_out, 0)
        await _rate(eng, crowd)
        await eng.store.redis.aclose()

    async def one() -> None:
        eng = engine(url, fan_out, 0)
        await eng.apply_batch(portions([(raters, RatingEvent("new", "i0", 4.0, 0.0, "upsert"))]))
        await eng.store.redis.aclose()

    asyncio.run(build())
    before = stored_fields(client)
    with Monitored(url) as monitored:
        asyncio.run(one())
    grown = stored_fields(client) - before
    return client.hlen(keys.user_pairs("new")), grown, monitored.longest_script()


# Per event with the fan-out cap F: ≤ 2F pair entries (both sides of ≤ F pairs), ≤ F stale
# marks, and a fixed handful (rating, rater entry, join index row, stats, fences, mean).
ENTRIES_BOUND = 3 * F + 20
# The longest script, in fields touched: the newcomer's apply_user (read and write of each
# of ≤ F partners' sums: F + 2F) or the window read (HGET ×2 per seq in a 2F+1 window),
# plus fixed bookkeeping (fences, versions, the item's rating count, sum and popularity).
SCRIPT_BOUND = 4 * F + 40


def test_one_event_on_a_hot_item_is_bounded_by_the_fan_out_cap(engine_settings):
    url = engine_settings.redis.url
    for raters in (50, 600):
        partners, grown, longest = one_event_on_a_hot_item(url, raters, F)
        assert partners == F
        assert grown <= ENTRIES_BOUND, (raters, grown)
        assert longest <= SCRIPT_BOUND, (raters, longest)


def test_without_the_cap_one_event_grows_with_the_audience(engine_settings):
    """The same measures see the unbounded cost when the cap is off (the test's contrast)."""
    partners, grown, longest = one_event_on_a_hot_item(engine_settings.redis.url, 600, 0)
    assert partners == 600
    assert grown >= 2 * 600
    assert longest >= 2 * 600


def test_a_heavy_users_pairs_are_bounded_by_the_history_cap(engine_settings):
    url = engine_settings.redis.url
    client = redis.Redis.from_url(url)
    items = [f"i{k}" for k in range(300)]
    events = [(k, RatingEvent(f"c{k % 7}", i, 3.0, 0.0, "upsert")) for k, i in enumerate(items)]
    events += [(1000 + k, RatingEvent("heavy", i, 4.0, 0.0, "upsert")) for k, i in enumerate(items)]

    async def run() -> None:
        eng = engine(url, F, H)
        await _rate(eng, events)
        await eng.store.redis.aclose()

    asyncio.run(run())
    state = client.hgetall(keys.user_state("heavy"))
    assert float(state[b"count"]) == 300  # every rating counts in the mean
    assert [int(state[f"h:{p}".encode()]) for p in (0, 1)] == [H, H]
    _partners, sums = decode_pairs(client.hgetall(keys.user_pairs("heavy")))
    assert sums[:, 0].sum() == 2 * H  # co-ratings: one per counted rating (one co-rater each)
    with Monitored(url) as monitored:
        asyncio.run(_one(url, [(5000, RatingEvent("heavy", "i9999", 2.0, 0.0, "upsert"))]))
    assert monitored.longest_script() <= SCRIPT_BOUND


async def _one(url: str, events: list[tuple[int, RatingEvent]]) -> None:
    eng = engine(url, F, H)
    await eng.apply_batch(portions(events))
    await eng.store.redis.aclose()
