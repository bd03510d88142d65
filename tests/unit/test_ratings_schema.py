import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.schemas.errors import InvalidEvent, Reason
from streams.schemas.ratings import RatingEvent, parse_rating
from streams.settings import EventLimits

LIMITS = EventLimits(rating_min=0.5, rating_max=5.0, max_id_length=16)
GOOD = {"user_id": "u1", "item_id": "i1", "rating": 4, "ts": 881250949}


def with_(**changes):
    body = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe not utf-8", Reason.NOT_JSON),
        (b"{'single': 'quotes'}", Reason.NOT_JSON),
        (b"", Reason.NOT_JSON),
        (b"[1, 2]", Reason.NOT_OBJECT),
        (b'"a string"', Reason.NOT_OBJECT),
        (with_(user_id=...), Reason.MISSING_FIELD),
        (with_(item_id=None), Reason.MISSING_FIELD),
        (with_(rating=...), Reason.MISSING_FIELD),
        (with_(ts=...), Reason.MISSING_FIELD),
        (with_(user_id=42), Reason.WRONG_TYPE),
        (with_(item_id=["x"]), Reason.WRONG_TYPE),
        (with_(rating="4"), Reason.WRONG_TYPE),
        (with_(rating=True), Reason.WRONG_TYPE),
        (with_(ts=[1]), Reason.WRONG_TYPE),
        (with_(event_id=7), Reason.WRONG_TYPE),
        (with_(user_id=""), Reason.EMPTY_ID),
        (with_(item_id="   "), Reason.EMPTY_ID),
        (with_(user_id="x" * 17), Reason.ID_TOO_LONG),
        (b'{"user_id":"u","item_id":"i","rating":NaN,"ts":1}', Reason.NOT_FINITE),
        (b'{"user_id":"u","item_id":"i","rating":Infinity,"ts":1}', Reason.NOT_FINITE),
        (b'{"user_id":"u","item_id":"i","rating":4,"ts":-Infinity}', Reason.NOT_FINITE),
        (with_(rating=5.5), Reason.RATING_OUT_OF_RANGE),
        (with_(rating=0), Reason.RATING_OUT_OF_RANGE),
        (with_(rating=-3), Reason.RATING_OUT_OF_RANGE),
        (with_(op="merge"), Reason.UNKNOWN_OP),
        (with_(op=1), Reason.UNKNOWN_OP),
        (with_(ts="yesterday"), Reason.BAD_TIMESTAMP),
        (with_(ts=-5), Reason.BAD_TIMESTAMP),
    ],
)
def test_every_invalid_case_maps_to_its_reason(raw, reason):
    with pytest.raises(InvalidEvent) as caught:
        parse_rating(raw, LIMITS)
    assert caught.value.reason is reason
    assert caught.value.detail


def test_defaults_and_normalisation():
    event = parse_rating(with_(), LIMITS)
    assert event == RatingEvent("u1", "i1", 4.0, 881250949.0, "upsert", None)


def test_iso_timestamps_are_epoch_seconds_and_naive_means_utc():
    aware = parse_rating(with_(ts="1997-12-04T15:55:49+00:00"), LIMITS)
    naive = parse_rating(with_(ts="1997-12-04T15:55:49"), LIMITS)
    zulu = parse_rating(with_(ts="1997-12-04T15:55:49Z"), LIMITS)
    assert aware.ts == naive.ts == zulu.ts == 881250949.0


def test_delete_needs_no_rating_and_ignores_one():
    event = parse_rating(with_(op="delete", rating=...), LIMITS)
    assert event.op == "delete" and event.rating is None
    assert parse_rating(with_(op="delete", rating=99), LIMITS).rating is None


def test_unicode_ids_and_unknown_fields_are_accepted():
    event = parse_rating(with_(user_id="ユーザー{1}", extra={"a": 1}), LIMITS)
    assert event.user_id == "ユーザー{1}"


ids = st.text(min_size=1, max_size=16).filter(lambda s: s.strip())
events = st.builds(
    RatingEvent,
    user_id=ids,
    item_id=ids,
    rating=st.floats(0.5, 5.0),
    ts=st.floats(0, 4e9),
    op=st.just("upsert"),
    event_id=st.none() | ids,
)


@given(events)
def test_encode_then_parse_is_identity(event):
    assert parse_rating(event.encode(), LIMITS) == event


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_input_is_accepted_or_refused_with_a_reason(raw):
    try:
        event = parse_rating(raw, LIMITS)
    except InvalidEvent as exc:
        assert isinstance(exc.reason, Reason)
    else:
        assert math.isfinite(event.ts)
