"""The one ``ratings`` agent's bookkeeping in process: each record parsed once, and
acknowledged once, only after every path released it (issue 14)."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from streams.engines.itemcf import UserEvent
from streams.schemas.errors import InvalidEvent
from streams.settings import EventLimits
from streams.worker.inflight import InFlight
from streams.worker.pairs import chunks
from streams.worker.ratings import parse_message


@dataclass
class Msg:
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp: float = 1_700_000_000.0
    topic: str = "ratings"


@dataclass
class Rec:
    message: Msg


def record(partition: int, offset: int, user: str = "u1", valid: bool = True) -> Rec:
    body = {"user_id": user, "item_id": "i1", "rating": 4.0, "ts": 1_600_000_000}
    value = json.dumps(body).encode() if valid else b"{not json"
    return Rec(Msg(partition, offset, user.encode(), value))


def parsed_once(paths: int, ack) -> InFlight:
    """What the ratings agent keeps: each record's parse, released by ``paths`` paths."""
    flight: InFlight = InFlight(paths, lambda r: parse_message(r.message, EventLimits()))
    flight.ack = ack
    return flight


def test_each_record_is_parsed_once_into_an_event_or_its_reason() -> None:
    acked: list[Rec] = []

    async def ack(r: Rec) -> None:
        acked.append(r)

    flight = parsed_once(3, ack)
    good, bad = record(0, 0), record(0, 1, valid=False)
    flight.add([good, bad])
    event = flight.event(good)
    assert isinstance(event, UserEvent)
    assert (event.user_id, event.item_id, event.offset, event.ts) == ("u1", "i1", 0, 1.6e9)
    assert isinstance(flight.event(bad), InvalidEvent)


@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 5)), min_size=0, max_size=60, unique=False
    ),
    st.integers(1, 4),
)
def test_a_record_is_acknowledged_once_when_the_last_path_releases_it(
    releases: list[tuple[int, int]], paths: int
) -> None:
    """Paths release records in any order and interleaving; the ack comes exactly when
    the ``paths``-th release of that record lands, never before, never twice."""
    acked: list[tuple[int, int]] = []

    async def ack(r: Rec) -> None:
        acked.append((r.message.partition, r.message.offset))

    flight = parsed_once(paths, ack)
    records = {(p, o): record(p, o) for p in range(3) for o in range(6)}
    flight.add(list(records.values()))
    seen: dict[tuple[int, int], int] = {}

    async def run() -> None:
        for key in releases:
            if seen.get(key, 0) >= paths:
                continue  # each path releases a record once
            seen[key] = seen.get(key, 0) + 1
            before = len(acked)
            await flight.release(records[key])
            assert (len(acked) > before) == (seen[key] == paths), (key, seen[key])

    asyncio.run(run())
    assert sorted(acked) == sorted(k for k, n in seen.items() if n == paths)
    assert len(acked) == len(set(acked))


def test_a_revoked_partition_starts_counting_again() -> None:
    """After a revoke its records come again from the committed offset: releases counted
    before must not make the new delivery acknowledged early."""
    acked: list[Rec] = []

    async def ack(r: Rec) -> None:
        acked.append(r)

    async def run() -> None:
        flight = parsed_once(2, ack)
        first = record(1, 7)
        flight.add([first])
        await flight.release(first)  # one path done, then the partition moves away
        flight.forget(1)
        again = record(1, 7)
        flight.add([again])
        await flight.release(again)
        assert acked == []
        await flight.release(again)
        assert acked == [again]

    asyncio.run(run())


@given(st.lists(st.integers(1, 50), max_size=40), st.integers(1, 60))
def test_pairs_chunks_keep_order_and_bound_events(sizes: list[int], most: int) -> None:
    """A consumed batch of packed by-item records is applied in runs of at most ``most``
    events, in order, no record split or lost; a record larger than ``most`` runs alone."""
    batch = list(range(len(sizes)))
    runs = chunks(batch, sizes, most)
    assert [r for run in runs for r in run] == batch
    for run in runs:
        total = sum(sizes[r] for r in run)
        assert run and (total <= most or len(run) == 1)
    for first, second in itertools.pairwise(runs):  # a run ends only when the next is full
        assert sum(sizes[r] for r in first) + sizes[second[0]] > most


def test_records_held_counts_what_is_delivered_and_not_acknowledged() -> None:
    """The refresher's idle test: a batch still being applied is work in flight, even
    though no batch finished since the last tick."""
    from streams.worker.inflight import records_held

    async def ack(r: Rec) -> None:
        pass

    async def run() -> None:
        before = records_held()
        flight = parsed_once(2, ack)
        held = [record(0, 0), record(0, 1), record(1, 0)]
        flight.add(held)
        assert records_held() == before + 3
        for r in held:
            await flight.release(r)
        assert records_held() == before + 3  # one path of two released them
        for r in held[:2]:
            await flight.release(r)
        assert records_held() == before + 1
        flight.forget(1)
        assert records_held() == before

    asyncio.run(run())
