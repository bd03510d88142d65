"""Per-path progress is read from each path's own fences, so one path's lead never shows
as another's progress."""

import pytest
import redis

from streams.state import keys, watch

pytestmark = pytest.mark.integration


def test_each_path_counts_its_own_fences(services):
    client = redis.Redis.from_url(services.redis.rsplit("/", 1)[0] + "/8")
    client.flushdb()
    by_item = "app-ratings-by-item"  # packed records: the commits count its events
    client.hset(keys.partition_progress(by_item, 0), mapping={"fence": 3, "events": 100})
    client.hset(keys.partition_progress(by_item, 1), mapping={"fence": 0, "events": 10})
    client.hset(keys.partition_progress("ratings#item-cf", 1), "fence", 499)
    client.hset(keys.partition_progress("ratings#hybrid", 0), "intent_end", 50)  # not yet
    got = watch.path_progress(client, "ratings", "app-ratings-by-item", 2)
    assert [(p.path, p.applied) for p in got] == [
        (watch.USER_BASED, 110),
        (watch.ITEM_CF, 500),
        (watch.HYBRID, 0),
    ]
    only = watch.path_progress(client, "ratings", "app-ratings-by-item", 2, (watch.ITEM_CF,))
    assert [(p.path, p.applied) for p in only] == [(watch.ITEM_CF, 500)]
