"""Every hostile record class found so far is refused with a reason, and nothing but
:class:`InvalidEvent` ever leaves the parsers, whatever the bytes (issue: hostile input)."""

import asyncio
import contextlib
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engines.usercf import popularity_weight
from streams.schemas.dlq import DETAIL_BYTES, VALUE_BYTES, dead_letter_headers, dead_letter_value
from streams.schemas.errors import InvalidEvent, Reason
from streams.schemas.items import parse_item
from streams.schemas.ratings import check_key, parse_rating
from streams.settings import EventLimits, UserCFSettings, WorkerSettings
from streams.worker import guard

LIMITS = EventLimits()
NOW = 1_795_795_000.0


def body(**fields) -> bytes:
    event = {"user_id": "196", "item_id": "1", "rating": 5, "ts": 881250949} | fields
    return json.dumps(event).encode()


def raw(text: str) -> bytes:
    return text.encode()


HOSTILE = [
    (None, Reason.NULL_VALUE),
    (body(rating=None), Reason.MISSING_FIELD),
    (raw('{"user_id":"1","item_id":"2","rating":' + "9" * 400 + ',"ts":1}'), Reason.NOT_FINITE),
    (raw('{"user_id":"1","item_id":"2","rating":4,"ts":' + "9" * 400 + "}"), Reason.NOT_FINITE),
    (raw('{"user_id":"1","item_id":"2","rating":' + "9" * 5000 + "}"), Reason.NOT_JSON),
    (raw('{"a":' + "[" * 1000 + "]" * 1000 + "}"), Reason.TOO_DEEP),
    (raw('{"a":' + "[" * 100_000 + "]" * 100_000 + "}"), Reason.TOO_LARGE),
    (raw('{"user_id":"196","item_id":"\\ud800","rating":5,"ts":1}'), Reason.BAD_TEXT),
    (raw('{"user_id":"196","item_id":"1","rating":5,"ts":1,"x":{"\\uDC00":1}}'), Reason.BAD_TEXT),
    (body(ts=1_795_795_000_000), Reason.TIMESTAMP_IN_MILLISECONDS),
    (body(ts=4.2e9), Reason.TIMESTAMP_IN_FUTURE),
    (body(ts=NOW + 86_400 + 1), Reason.TIMESTAMP_IN_FUTURE),
    (body(ts="0001-01-01T00:00:00+01:00"), Reason.BAD_TIMESTAMP),
    (body(ts="9999-12-31T23:59:59"), Reason.BAD_TIMESTAMP),
    (body(ts="1969-12-31T23:59:59Z"), Reason.BAD_TIMESTAMP),
    (body(pad="x" * 70_000), Reason.TOO_LARGE),
    (b"\x80\x81", Reason.NOT_JSON),
]


@pytest.mark.parametrize(("value", "reason"), HOSTILE)
def test_each_hostile_class_is_refused_with_its_reason(value, reason):
    with pytest.raises(InvalidEvent) as caught:
        parse_rating(value, LIMITS, received_at=NOW)
    assert caught.value.reason is reason
    assert len(caught.value.detail) < 300  # never the whole value


def test_valid_edge_cases_are_accepted():
    quoted = parse_rating(body(item_id='x" onanimationstart="alert(1)'), LIMITS, NOW)
    assert quoted.item_id == 'x" onanimationstart="alert(1)'
    assert quoted.encode()  # the forwarded form encodes
    assert parse_rating(body(ts=NOW + 86_000), LIMITS, NOW).ts == NOW + 86_000
    assert parse_rating(body(ts=4.2e9), LIMITS, received_at=None).ts == 4.2e9  # no clock
    assert parse_rating(body(item_id="caf\u00e9 \U0001f3ac"), LIMITS, NOW).item_id.endswith("🎬")


def test_an_items_tombstone_and_a_surrogate_title_are_refused():
    with pytest.raises(InvalidEvent) as caught:
        parse_item(None, LIMITS)
    assert caught.value.reason is Reason.NULL_VALUE
    with pytest.raises(InvalidEvent) as caught:
        parse_item(raw('{"item_id":"1","title":"\\ud83d"}'), LIMITS)
    assert caught.value.reason is Reason.BAD_TEXT


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
fields_ = st.sampled_from(["user_id", "item_id", "rating", "ts", "op", "event_id", "x"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(fields_, json_values | st.integers(min_value=10**300)), st.booleans())
def test_nothing_but_invalid_event_leaves_the_parser(data, as_bytes):
    """Whatever the value (as a dict from HTTP, or bytes from Kafka), the parser either
    returns an event every later step can carry, or raises InvalidEvent."""
    value = json.dumps(data, ensure_ascii=True).encode() if as_bytes else data
    try:
        event = parse_rating(value, LIMITS, received_at=NOW)
    except InvalidEvent:
        return
    event.encode().decode("utf-8")
    event.key.decode("utf-8")
    event.item_id.encode("utf-8")
    assert 0 <= event.ts <= NOW + LIMITS.max_future_s
    assert math.isfinite(popularity_weight(event.ts, 1.5e9, 30 * 86_400))


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_another_exception(value):
    with contextlib.suppress(InvalidEvent):
        parse_rating(value, LIMITS, received_at=NOW)


@given(st.floats(allow_nan=False), st.floats(min_value=1, max_value=1e9))
def test_the_popularity_weight_never_overflows(ts, half_life):
    weight = popularity_weight(ts, 1.5e9, half_life)
    assert math.isfinite(weight) and weight >= 0
    assert weight * 2.0**100 < math.inf  # room for 2^100 such weights in one score


def test_a_half_life_that_saturates_present_day_events_is_refused():
    with pytest.raises(ValueError, match="popularity_half_life_s"):
        WorkerSettings(user_cf=UserCFSettings(popularity_half_life_s=86_400))
    assert WorkerSettings(
        user_cf=UserCFSettings(popularity_half_life_s=86_400, popularity_epoch_s=NOW)
    )


def test_a_dead_letter_stays_small_whatever_the_detail_and_value():
    error = InvalidEvent(Reason.NOT_JSON, "ä" * 1_000_000)
    headers = dead_letter_headers(error, "ratings", 0, 7)
    assert sum(len(v) for _k, v in headers) < DETAIL_BYTES + 200
    value, headers = dead_letter_value(b"x" * 2_000_000, headers)
    assert value is not None and len(value) == VALUE_BYTES
    assert dict(headers)["streamrec.truncated"] == b"2000000"
    assert dead_letter_value(b"small", [])[0] == b"small"


def test_an_agent_exception_stops_the_process_but_a_cancel_does_not(monkeypatch):
    exits: list[int] = []
    monkeypatch.setattr(guard, "_exit", exits.append)

    async def broken(_stream):
        raise OverflowError("math range error")

    async def cancelled(_stream):
        raise asyncio.CancelledError

    asyncio.run(guard.fail_stop("pairs")(broken)(None))
    assert exits == [guard.EXIT_CODE]
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(guard.fail_stop("pairs")(cancelled)(None))
    assert exits == [guard.EXIT_CODE]


@pytest.mark.parametrize("key", [None, b"", b"someone-else", b"\xff196"])
def test_a_rating_under_another_key_is_refused(key):
    event = parse_rating(body(), LIMITS, NOW)
    with pytest.raises(InvalidEvent) as caught:
        check_key(key, event)
    assert caught.value.reason is Reason.KEY_MISMATCH
    assert check_key(b"196", event) is event
