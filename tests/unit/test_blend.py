from streams.blend import RRF_K, fuse


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
