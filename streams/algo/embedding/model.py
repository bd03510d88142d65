"""One SGD step per rating event, on plain numpy rows (no I/O; the worker and the
evaluation share it, ``tests/unit/test_embedding.py`` checks it against a plain loop).

Prediction: r̂ = μ + b_u + b_i + p_u · q_i, μ the exact running mean of all ratings.

* Biased MF: q_i = v_i, an id embedding.
* Neural: q_i = v_i + W₂ tanh(W₁ x_i + c), x_i the item's attributes (hashed genres and
  release-year bucket). v_i starts at zero, so a new item's embedding is the network's
  output for its attributes alone, and items nobody rated are rankable.

A retraction takes the same step with the rate negated (gradient ascent on the retracted
rating's loss, a first-order unlearning); a re-rating retracts the old rating, then learns
the new one. Rows are laid out as [bias, factors...] so one float64 array is one record.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from streams.algo import topk
from streams.algo.embedding import EmbeddingConfig
from streams.algo.topk import top_k, top_k_rows

GENRE_COLUMNS = 24
YEAR_MIN, YEAR_STEP, YEAR_COLUMNS = 1920, 5, 20
FEATURES = GENRE_COLUMNS + YEAR_COLUMNS + 1  # + a constant column


def features(attributes: dict[str, object] | None) -> np.ndarray:
    """The network's input: hashed genres (multi-hot), release-year bucket, a constant."""
    x = np.zeros(FEATURES)
    attrs = attributes or {}
    genres = attrs.get("genres")
    for g in genres if isinstance(genres, list) else []:
        if isinstance(g, str):
            x[zlib.crc32(g.encode()) % GENRE_COLUMNS] = 1.0
    year = attrs.get("year")
    if isinstance(year, int) and not isinstance(year, bool):
        bucket = min(max((year - YEAR_MIN) // YEAR_STEP, 0), YEAR_COLUMNS - 1)
        x[GENRE_COLUMNS + bucket] = 1.0
    x[-1] = 1.0
    return x


def initial_row(kind: str, identifier: str, config: EmbeddingConfig, neural: bool) -> np.ndarray:
    """A new user's or item's row, the same on every worker: [0, N(0, σ²)...] seeded by
    the id (a neural item's id part starts at zero)."""
    row = np.zeros(config.factors + 1)
    if not (neural and kind == "i"):
        seed = zlib.crc32(f"{kind}:{identifier}".encode()) ^ config.seed
        row[1:] = np.random.default_rng(seed).normal(0.0, config.init_scale, config.factors)
    return row


@dataclass
class Network:
    """W₁ (hidden × FEATURES), c (hidden), W₂ (factors × hidden), as one flat array."""

    flat: np.ndarray
    hidden: int
    factors: int

    @classmethod
    def initial(cls, config: EmbeddingConfig) -> Network:
        rng = np.random.default_rng(config.seed)
        h, k = config.hidden, config.factors
        w1 = rng.normal(0.0, 1.0 / np.sqrt(FEATURES), (h, FEATURES))
        w2 = rng.normal(0.0, config.init_scale / np.sqrt(h), (k, h))
        return cls(np.concatenate([w1.ravel(), np.zeros(h), w2.ravel()]), h, k)

    @staticmethod
    def size(config: EmbeddingConfig) -> int:
        return config.hidden * FEATURES + config.hidden + config.factors * config.hidden

    def parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Views (writes go to ``flat``)."""
        h, k = self.hidden, self.factors
        w1 = self.flat[: h * FEATURES].reshape(h, FEATURES)
        c = self.flat[h * FEATURES : h * FEATURES + h]
        w2 = self.flat[h * FEATURES + h :].reshape(k, h)
        return w1, c, w2

    def embed(self, x: np.ndarray) -> np.ndarray:
        """W₂ tanh(W₁ x + c) for one item (x a vector) or many (x rows)."""
        w1, c, w2 = self.parts()
        return np.asarray(np.tanh(x @ w1.T + c) @ w2.T)


def item_vector(row: np.ndarray, network: Network | None, x: np.ndarray | None) -> np.ndarray:
    if network is None or x is None:
        return row[1:]
    return row[1:] + network.embed(x)


def predict(
    mean: float, user: np.ndarray, item: np.ndarray, q: np.ndarray, bounds: tuple[float, float]
) -> float:
    value = mean + user[0] + item[0] + float(user[1:] @ q)
    return float(min(max(value, bounds[0]), bounds[1]))


def step(
    mean: float,
    user: np.ndarray,
    item: np.ndarray,
    rating: float,
    config: EmbeddingConfig,
    network: Network | None = None,
    x: np.ndarray | None = None,
    sign: float = 1.0,
) -> None:
    """One SGD step on (r − r̂)², updating ``user``, ``item`` and the network in place.
    ``sign=-1`` retracts ``rating`` instead of learning it."""
    lr, lb, reg, rb = (
        config.learning_rate,
        config.bias_rate,
        config.regularisation,
        (config.bias_regularisation),
    )
    hidden = None
    if network is not None and x is not None:
        w1, c, w2 = network.parts()
        hidden = np.tanh(w1 @ x + c)
        q = item[1:] + w2 @ hidden
    else:
        q = item[1:]
    p = user[1:].copy()
    error = sign * (rating - (mean + user[0] + item[0] + float(p @ q)))
    sign_reg = 1.0 if sign > 0 else -1.0
    user[0] += lb * (error - sign_reg * rb * user[0])
    item[0] += lb * (error - sign_reg * rb * item[0])
    user[1:] += lr * (error * q - sign_reg * reg * p)
    item[1:] += lr * (error * p - sign_reg * reg * item[1:])
    if hidden is not None and network is not None and x is not None:
        w1, c, w2 = network.parts()
        dq = error * p  # ascent direction for q_i
        back = (w2.T @ dq) * (1.0 - hidden * hidden)
        nr = config.network_rate
        w2 += nr * np.outer(dq, hidden)
        w1 += nr * np.outer(back, x)
        c += nr * back


def rank(
    user: np.ndarray,
    item_ids: list[str],
    item_biases: np.ndarray,
    item_vectors: np.ndarray,
    exclude: np.ndarray,
    n: int,
) -> list[tuple[str, float]]:
    """Top-``n`` by b_i + p_u · q_i over all items but the ``exclude`` rows (μ and b_u
    rank nothing), vectorised; ties by id. A linear scan: at about a million items an
    approximate inner-product index (HNSW, ScaNN) would take over."""
    if not item_ids:
        return []
    scores = item_biases + item_vectors @ user[1:]
    scores[exclude] = -np.inf
    best = top_k(item_ids, scores, n, above=-np.inf)
    at = best.tolist()
    return list(zip([item_ids[k] for k in at], np.asarray(scores)[best].tolist(), strict=True))


def rank_many(
    users: np.ndarray,
    item_ids: list[str],
    item_biases: np.ndarray,
    item_vectors: np.ndarray,
    excludes: list[np.ndarray],
    n: int,
) -> list[list[tuple[str, float]]]:
    """``rank`` for every row of ``users`` at once, ``item_ids`` in sorted order: the
    scores of a block of users are one matrix product (the bias folded in as a column,
    the item vectors read once per block, not once per user) and their top-``n`` one
    ``top_k_rows``."""
    if not item_ids:
        return [[] for _u in range(len(users))]
    items = np.hstack([item_biases[:, None], item_vectors]).T.copy()
    probes = users.astype(np.float64, copy=True)
    probes[:, 0] = 1.0  # μ and b_u rank nothing; the column multiplies b_i
    block = max(1, topk.BLOCK_CELLS // len(item_ids))
    out: list[list[tuple[str, float]]] = []
    for start in range(0, len(users), block):
        scores = probes[start : start + block] @ items
        masks = excludes[start : start + block]
        lengths = [len(m) for m in masks]
        if sum(lengths):
            at = np.repeat(np.arange(len(scores)), lengths)
            scores[at, np.concatenate(masks).astype(np.int64)] = -np.inf
        for r, best in enumerate(top_k_rows(scores, n, above=-np.inf)):
            at = best.tolist()  # two plain lists zipped, not numpy scalars one by one
            out.append(list(zip([item_ids[k] for k in at], scores[r, best].tolist(), strict=True)))
    return out
