import pytest

from streams.schemas.errors import InvalidEvent, Reason
from streams.schemas.items import ItemEvent, parse_item
from streams.settings import EventLimits

LIMITS = EventLimits()


def test_item_roundtrip():
    item = ItemEvent("1", "Toy Story", {"genres": ["Animation", "Comedy"], "year": 1995})
    assert parse_item(item.encode(), LIMITS) == item


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"title": "x"}', Reason.MISSING_FIELD),
        ('{"item_id": "1", "title": 3}', Reason.WRONG_TYPE),
        ('{"item_id": "1", "attributes": []}', Reason.WRONG_TYPE),
        ('{"item_id": "1", "attributes": {"genres": "Drama"}}', Reason.WRONG_TYPE),
        ('{"item_id": "1", "attributes": {"year": "1995"}}', Reason.WRONG_TYPE),
        ('{"item_id": "1", "attributes": {"tags": "cult"}}', Reason.WRONG_TYPE),
        ('{"item_id": "1", "attributes": {"tags": ["cult", 7]}}', Reason.WRONG_TYPE),
    ],
)
def test_bad_items_are_refused(raw, reason):
    with pytest.raises(InvalidEvent) as caught:
        parse_item(raw, LIMITS)
    assert caught.value.reason is reason
