"""The online models against a straightforward reference loop (same updates, to float
tolerance) after every event; batch plans against the sequential run; cold start."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.algo.embedding import EmbeddingConfig
from streams.algo.embedding.model import FEATURES, Network, features, initial_row
from streams.algo.embedding.plan import ModelView, PortionPlan, UserView, plan_portion
from streams.evaluation.hybrid import EmbeddingModel

USERS = ["a", "b", "c"]
ITEMS = ["i0", "i1", "i2", "i3"]
ATTRS = {
    "i0": {"genres": ["Action"], "year": 1977},
    "i1": {"genres": ["Comedy", "Romance"], "year": 1994},
    "i2": {"genres": ["Action", "Sci-Fi"], "year": 1999},
    "i3": {},
}
CONFIG = EmbeddingConfig(factors=3, hidden=2, rating_bounds=(1.0, 5.0))

events_strategy = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from(ITEMS),
        st.one_of(st.none(), st.sampled_from([1.0, 2.0, 3.5, 5.0])),
    ),
    min_size=1,
    max_size=40,
)


class Reference:
    """The SGD rules written out with scalar loops and Python lists."""

    def __init__(self, neural: bool) -> None:
        c = CONFIG
        self.neural = neural
        self.users = {u: list(initial_row("u", u, c, False)) for u in USERS}
        self.items = {i: list(initial_row("i", i, c, neural)) for i in ITEMS}
        net = Network.initial(c)
        w1, b1, w2 = net.parts()
        self.w1, self.b1, self.w2 = w1.tolist(), b1.tolist(), w2.tolist()
        self.ratings: dict[tuple[str, str], float] = {}
        self.count, self.total = 0, 0.0

    def sgd(self, u: str, i: str, r: float, mu: float, sign: float) -> None:
        c = CONFIG
        k, h = c.factors, c.hidden
        p, item = self.users[u], self.items[i]
        x = list(features(ATTRS[i])) if self.neural else None
        q = item[1:]
        hidden: list[float] = []
        if x is not None:
            hidden = [
                math.tanh(sum(self.w1[a][f] * x[f] for f in range(FEATURES)) + self.b1[a])
                for a in range(h)
            ]
            q = [item[1 + d] + sum(self.w2[d][a] * hidden[a] for a in range(h)) for d in range(k)]
        pred = mu + p[0] + item[0] + sum(p[1 + d] * q[d] for d in range(k))
        e = sign * (r - pred)
        s = 1.0 if sign > 0 else -1.0
        old_p = p[1:]
        p[0] += c.bias_rate * (e - s * c.bias_regularisation * p[0])
        item[0] += c.bias_rate * (e - s * c.bias_regularisation * item[0])
        for d in range(k):
            p[1 + d] += c.learning_rate * (e * q[d] - s * c.regularisation * old_p[d])
            item[1 + d] += c.learning_rate * (e * old_p[d] - s * c.regularisation * item[1 + d])
        if x is not None:
            dq = [e * old_p[d] for d in range(k)]
            back = [
                sum(self.w2[d][a] * dq[d] for d in range(k)) * (1 - hidden[a] ** 2)
                for a in range(h)
            ]
            for d in range(k):
                for a in range(h):
                    self.w2[d][a] += c.network_rate * dq[d] * hidden[a]
            for a in range(h):
                for f in range(FEATURES):
                    self.w1[a][f] += c.network_rate * back[a] * x[f]
                self.b1[a] += c.network_rate * back[a]

    def learn(self, u: str, i: str, r: float | None) -> None:
        old = self.ratings.pop((u, i), None)
        if old is not None:
            self.count -= 1
            self.total -= old
            if self.count:
                self.sgd(u, i, old, self.total / self.count, -1.0)
        if r is not None:
            mu = self.total / self.count if self.count else r
            self.sgd(u, i, r, mu, 1.0)
            self.count += 1
            self.total += r
            self.ratings[(u, i)] = r


def _model(neural: bool) -> EmbeddingModel:
    return EmbeddingModel(CONFIG, None, neural, ATTRS)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(events_strategy, st.booleans())
def test_online_model_equals_the_reference_loop_after_every_event(events, neural):
    model, ref = _model(neural), Reference(neural)
    for offset, (u, i, r) in enumerate(events):
        model.learn(u, i, r, offset, 0.0)
        ref.learn(u, i, r)
        for user in model.users:
            np.testing.assert_allclose(model.users[user], ref.users[user], atol=1e-12)
        for item in model.ids:
            np.testing.assert_allclose(model.rows[model.index[item]], ref.items[item], atol=1e-12)
        assert model.totals[0] == ref.count and abs(model.totals[1] - ref.total) < 1e-9
        if neural:
            w1, b1, w2 = model.network.parts()  # type: ignore[union-attr]
            np.testing.assert_allclose(w1, ref.w1, atol=1e-12)
            np.testing.assert_allclose(b1, ref.b1, atol=1e-12)
            np.testing.assert_allclose(w2, ref.w2, atol=1e-12)


def _apply(
    stored: dict[str, np.ndarray],
    fences: dict[int, int],
    plan: PortionPlan,
    net: list[np.ndarray],
    mean: np.ndarray,
) -> None:
    """What apply_embedding.lua does: at most once per partition, base when missing."""
    if fences.get(plan.partition, -1) >= plan.end:
        return
    for k, item in enumerate(plan.item_ids):
        stored[item] = stored.get(item, plan.bases[k]) + plan.deltas[k]
    if len(plan.network_delta):
        net[0] = (net[0] if len(net[0]) else plan.network_base) + plan.network_delta
    mean += plan.mean_delta
    fences[plan.partition] = plan.end


@settings(max_examples=40, deadline=None)
@given(events_strategy, st.booleans(), st.integers(1, 7))
def test_batched_plans_applied_once_equal_the_sequential_run(events, neural, size):
    ref = Reference(neural)
    for u, i, r in events:
        ref.learn(u, i, r)
    stored: dict[str, np.ndarray] = {}
    net = [np.zeros(0)]
    mean = np.zeros(2)
    fences: dict[int, int] = {}
    users: dict[str, UserView] = {}
    x = {i: features(ATTRS[i]) if neural else None for i in ITEMS}
    numbered = [(u, i, r, offset) for offset, (u, i, r) in enumerate(events)]
    for start in range(0, len(numbered), size):
        chunk = numbered[start : start + size]
        network = None
        if neural:
            network = Network.initial(CONFIG)
            if len(net[0]):
                network.flat = net[0].copy()
        view = ModelView({i: row.copy() for i, row in stored.items()}, network, mean.copy())
        for u, *_rest in chunk:
            users.setdefault(u, UserView(initial_row("u", u, CONFIG, False), {}))
        plan = plan_portion(0, chunk[-1][3], chunk, view, users, x.get, CONFIG)
        again = PortionPlan.decode(plan.encode(), CONFIG.factors + 1)
        _apply(stored, fences, again, net, mean)
        _apply(stored, fences, again, net, mean)  # a redo: the fence skips it
        for u, (row, _changes) in again.users.items():
            users[u] = UserView(row.copy(), users[u].rated, chunk[-1][3])
    for i, row in stored.items():
        np.testing.assert_allclose(row, ref.items[i], atol=1e-9)
    for u, view in users.items():
        np.testing.assert_allclose(view.row, ref.users[u], atol=1e-9)
        assert view.rated == {i: r for (v, i), r in ref.ratings.items() if v == u}
    assert mean[0] == ref.count and abs(mean[1] - ref.total) < 1e-9


def test_a_new_item_with_attributes_only_is_ranked_by_the_neural_model():
    """Group A loves action, hates comedy; group B the reverse. A new action film nobody
    rated is predicted high for A, low for B, and its embedding lies with the action
    films: from its attributes alone."""
    rng = np.random.default_rng(5)
    attrs = {f"act{k}": {"genres": ["Action"], "year": 1990} for k in range(20)}
    attrs |= {f"com{k}": {"genres": ["Comedy"], "year": 1990} for k in range(20)}
    attrs["new-action"] = {"genres": ["Action"], "year": 1990}
    config = EmbeddingConfig(factors=4, hidden=4, network_rate=0.05, rating_bounds=(1.0, 5.0))
    model = EmbeddingModel(config, None, True, attrs)  # type: ignore[arg-type]
    items = [i for i in attrs if i != "new-action"]
    model._item("new-action")
    for offset in range(6000):
        group = "A" if rng.random() < 0.5 else "B"
        user = f"{group}{rng.integers(30)}"
        item = items[rng.integers(len(items))]
        liked = item.startswith("act") == (group == "A")
        model.learn(user, item, 5.0 if liked else 1.0, offset, 0.0)
    for_a = np.mean([model.predict(f"A{k}", "new-action") for k in range(30)])
    for_b = np.mean([model.predict(f"B{k}", "new-action") for k in range(30)])
    assert for_a > 4.0 and for_b < 2.0, (for_a, for_b)
    q = model.item_vectors()
    unit = q / np.linalg.norm(q, axis=1, keepdims=True)
    new = unit[model.index["new-action"]]
    to_action = np.mean([unit[model.index[f"act{k}"]] @ new for k in range(20)])
    to_comedy = np.mean([unit[model.index[f"com{k}"]] @ new for k in range(20)])
    assert to_action > 0.5 > to_comedy, (to_action, to_comedy)
