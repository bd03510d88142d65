"""The prequential harness scores before it learns, and computes its metrics right."""

import math

from streams.evaluation.models import MostPopular, Ratings
from streams.evaluation.prequential import prequential
from streams.schemas.ratings import RatingEvent


class Scripted:
    """Predicts 3.0, recommends a fixed list, and records what it was told when."""

    name = "scripted"
    ranks = True

    def __init__(self, served: list[str]) -> None:
        self.served = served
        self.log: list[tuple[str, str, str]] = []

    def predict(self, user, item):
        self.log.append(("predict", user, item))
        return 3.0

    def recommend(self, user, n):
        self.log.append(("recommend", user, ""))
        return self.served[:n]

    def learn(self, user, item, rating, offset, ts):
        self.log.append(("learn", user, item))


def events(*rows):
    return [RatingEvent(u, i, r, float(t)) for t, (u, i, r) in enumerate(rows)]


def test_scores_then_learns_with_the_metric_definitions():
    stream = events(("u", "a", 5.0), ("u", "b", 4.0), ("u", "a", 4.0), ("v", "c", 1.0))
    model = Scripted(["x", "b", "c"])
    out = prequential(stream, [model], Ratings(), n=3, tuning_events=1)
    m = out.summary["scripted"]
    assert m["predictions"] == 4
    assert math.isclose(m["rmse"], math.sqrt((4 + 1 + 1 + 4) / 4))
    assert math.isclose(m["mae"], (2 + 1 + 1 + 2) / 4)
    # tests: (u,a) miss, (u,b) hit at rank 2; (u,a) again is a re-rating, (v,c) not positive
    assert m["tests"] == 2 and m["hit_rate"] == 0.5
    assert math.isclose(m["ndcg"], (1 / math.log2(3)) / 2)
    assert out.held_out["scripted"]["tests"] == 1  # the first event was the tuning part
    assert model.log[:3] == [("predict", "u", "a"), ("recommend", "u", ""), ("learn", "u", "a")]


def test_most_popular_excludes_what_the_user_rated():
    ratings = Ratings()
    for user, item in [("a", "x"), ("b", "x"), ("b", "y"), ("c", "z")]:
        ratings.learn(user, item, 4.0)
    popular = MostPopular(ratings)
    assert popular.recommend("b", 2) == ["z"]
    assert popular.recommend("new", 2) == ["x", "y"]
    ratings.learn("b", "x", None)  # a delete takes the count back
    assert popular.ranked("new", 1) == [("x", 1.0)]
