import pytest

from streams.algo.blend import RRF_K, fuse, route, stack


def test_fuse_adds_weighted_reciprocal_ranks():
    lists = {"a": [("x", 9.0), ("y", 8.0)], "b": [("y", 0.3), ("z", 0.2)], "off": [("w", 1.0)]}
    got = fuse(lists, {"a": 1.0, "b": 0.5}, 10)
    want = {"x": 1 / (RRF_K + 1), "y": 1 / (RRF_K + 2) + 0.5 / (RRF_K + 1), "z": 0.5 / (RRF_K + 2)}
    assert [i for i, _s, _src in got] == sorted(want, key=lambda i: -want[i])
    for item, score, _sources in got:
        assert abs(score - want[item]) < 1e-15
    assert dict((i, s) for i, _x, s in got)["y"] == ["a", "b"]


def test_fuse_cuts_to_n_and_breaks_ties_by_id():
    got = fuse({"a": [("q", 1.0)], "b": [("p", 1.0)]}, {"a": 1.0, "b": 1.0}, 1)
    assert [i for i, _s, _src in got] == ["p"]


def test_route_sends_users_with_few_ratings_to_content_and_popularity():
    weights = {"item-cf": 1.0, "user-cf": 0.1, "content": 0.2, "embedding": 0.1, "popular": 0.1}
    assert route(weights, ratings=2, threshold=3) == {"content": 0.2, "popular": 0.1}
    assert route(weights, ratings=3, threshold=3) == weights
    assert route({"item-cf": 1.0}, ratings=0, threshold=1) == {"popular": 1.0}
    assert route(weights, ratings=0, threshold=0) == weights  # routing off


def test_stack_is_the_weighted_sum_with_the_embedding_standing_in():
    weights = {"intercept": 0.5, "embedding": 0.6, "user-cf": 0.3}
    got = stack({"embedding": 4.0, "user-cf": 3.0}, weights, (1.0, 5.0))
    assert got == pytest.approx(0.5 + 0.6 * 4.0 + 0.3 * 3.0)
    missing = stack({"embedding": 4.0, "user-cf": None}, weights, (1.0, 5.0))
    assert missing == pytest.approx(0.5 + 0.9 * 4.0)
    assert stack({"embedding": None, "user-cf": 3.0}, weights, (1.0, 5.0)) is None
    assert stack({"embedding": 9.0}, weights, (1.0, 5.0)) == 5.0  # clipped to the scale


def test_a_source_listed_alone_keeps_its_order_in_the_blend():
    lists = {"content": [("new", 0.9), ("old", 0.8)], "popular": [("old", 50.0)]}
    got = fuse(lists, {"content": 0.2, "popular": 0.1}, 2)
    assert [i for i, _s, _x in got] == ["old", "new"]
    assert dict((i, x) for i, _s, x in got)["new"] == ["content"]
