"""The user-based baseline μ + b_u + b_i, checked after every event of a stream (upserts,
re-ratings, deletes) against a from-scratch computation on the ratings standing then, and
the in-memory user-based model's predictions against the reference's definition."""

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.usercf import UserCFConfig
from streams.algo.usercf.baseline import Baseline, bias, global_mean
from streams.evaluation import models
from tests.reference import Reference

USERS = [f"u{k}" for k in range(6)]
ITEMS = [f"i{k}" for k in range(5)]

events = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from(ITEMS),
        st.one_of(st.none(), st.sampled_from([0.5, 1.0, 2.5, 3.0, 4.0, 5.0]), st.floats(0.5, 5)),
    ),
    min_size=1,
    max_size=60,
)


def scratch(standing, user, item, item_damping, user_damping, asking):
    """μ + b_u + b_i over the ratings standing, loops over the definition: the user asking
    gets the bias fitted after the items' biases, a rater the plain damped offset."""
    values = list(standing.values())
    mu = sum(values) / len(values)

    def item_bias(j):
        theirs = [r for (_u, i), r in standing.items() if i == j]
        return sum(r - mu for r in theirs) / (item_damping + len(theirs)) if theirs else 0.0

    mine = [(i, r) for (u, i), r in standing.items() if u == user]
    offsets = [r - mu - (item_bias(i) if asking else 0.0) for i, r in mine]
    b_u = sum(offsets) / (user_damping + len(mine)) if mine else 0.0
    return mu + b_u + item_bias(item)


@settings(max_examples=200, deadline=None)
@given(events, st.floats(0, 50), st.floats(0, 50))
def test_incremental_counts_give_the_baseline_of_the_ratings_standing(stream, li, lu):
    standing: dict[tuple[str, str], float] = {}
    rows: dict[str, list[float]] = {}  # (n, Σ r) per user and per item, moved per event
    totals = [0.0, 0.0]
    for user, item, rating in stream:
        old = standing.pop((user, item), None)
        if rating is not None:
            standing[(user, item)] = rating
        for key in (user, item):
            row = rows.setdefault(key, [0.0, 0.0])
            row[0] += (rating is not None) - (old is not None)
            row[1] += (rating or 0.0) - (old or 0.0)
        totals[0] += (rating is not None) - (old is not None)
        totals[1] += (rating or 0.0) - (old or 0.0)
        if not standing:
            assert global_mean(*totals) is None
            continue
        base = Baseline.of_item((totals[0], totals[1]), (rows[item][0], rows[item][1]), li, lu)
        assert base is not None
        for someone in USERS:
            n, s = rows.get(someone, [0.0, 0.0])
            got = float(base.raters(np.array([n]), np.array([s]))[0])
            assert abs(got - scratch(standing, someone, item, li, lu, False)) < 1e-9
            theirs = np.array([rows[i] for (u, i) in standing if u == someone]).reshape(-1, 2)
            got = base.user(n, s, theirs[:, 0], theirs[:, 1])
            assert abs(got - scratch(standing, someone, item, li, lu, True)) < 1e-9


def test_a_row_with_no_rating_has_no_bias_even_undamped():
    assert bias(0.0, 0.0, 3.5, 0.0) == 0.0
    assert list(bias(np.array([0.0, 2.0]), np.array([0.0, 9.0]), 3.5, 0.0)) == [0.0, 1.0]


# ratings in halves: a rating a hair from a user's others leaves a variance that the sums
# (relative threshold) and the definition (absolute) call zero on different sides
halves = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from(ITEMS),
        st.one_of(st.none(), st.sampled_from([0.5, 1.0, 2.5, 3.0, 4.0, 5.0])),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(halves, st.sampled_from([None, (25.0, 10.0), (0.0, 0.0), (5.0, 50.0)]))
def test_the_in_memory_model_predicts_as_the_reference(stream, damping):
    """After each event, every (user, item) prediction equals the definition's."""
    config = UserCFConfig(min_support=1, shrinkage=0.0)
    if damping is None:
        config = dataclasses.replace(config, baseline=False)
    else:
        config = dataclasses.replace(config, item_damping=damping[0], user_damping=damping[1])
    ratings = models.Ratings()
    model = models.UserKNN(config, ratings)
    standing: dict[tuple[str, str], float] = {}
    for offset, (user, item, rating) in enumerate(stream):
        ratings.learn(user, item, rating)
        model.learn(user, item, rating, offset, 0.0)
        standing.pop((user, item), None)
        if rating is not None:
            standing[(user, item)] = rating
        if not standing:
            continue
        ref = Reference(standing)
        for someone in ref.users:
            for target in ITEMS:
                got = model.predict(someone, target)
                if _on_the_cut(ref, someone, target):
                    continue
                want = ref.predict(someone, target, 40, (0.5, 5.0), 1, 0.0, config.damping)
                assert got is not None and abs(got - want) < 1e-9, (someone, target)


def _on_the_cut(ref: Reference, user: str, item: str) -> bool:
    """A rater whose covariance with the user cancels exactly (co-rated items, variances
    not zero, similarity 0): the sums, moved by re-ratings, and the definition may round
    it to either side of the positive cut, so one takes that rater in and the other not."""
    if item not in ref.i:
        return False
    u = ref.u[user]
    for v in np.flatnonzero(ref.mask[:, ref.i[item]]):
        both = ref.mask[u] & ref.mask[v]
        if v == u or not both.any():
            continue
        da = ref.R[u][both] - ref.mean(user)
        db = ref.R[v][both] - ref.mean(ref.users[v])
        scale = np.sqrt((da**2).sum()) * np.sqrt((db**2).sum())
        if scale >= 1e-9 and abs(float((da * db).sum())) < 1e-9 * scale:
            return True
    return False
