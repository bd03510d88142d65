"""Item vectors from attributes and their cosine, vectorised over the whole catalogue.

An item's vector has four groups: genres (multi-hot), release year (its bucket, with half
weight on the two neighbouring buckets so 1994 and 1996 are alike), title words and tags
(TF-IDF over the catalogue, hashed into a fixed number of columns so the width never
changes as the catalogue grows). Each group is L2-normalised, then weighted, and the
whole row L2-normalised: the cosine of two items is then one dot product.

IDF depends on the catalogue, so vectors are rebuilt from all attributes whenever the
catalogue changes (:func:`build`): a pure function of the catalogue, which makes the
similar lists derived from it idempotent to recompute.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.algo.content import ContentConfig
from streams.algo.topk import BLOCK_CELLS, top_k, top_k_rows

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset({"the", "a", "an", "of", "and", "in", "to", "la", "le", "les", "de"})
YEAR_MIN, YEAR_MAX = 1900, 2040


def words(title: str) -> list[str]:
    """Lower-case title words; drops a trailing "(1995)" year and articles."""
    return [w for w in _WORD.findall(title.lower()) if w not in _STOP and not w.isdigit()]


def _column(token: str, width: int) -> int:
    return zlib.crc32(token.encode()) % width


@dataclass
class Catalogue:
    """Item ids in a fixed order and their unit-length content vectors (one row each)."""

    ids: list[str]
    vectors: np.ndarray  # (items, width), rows of length 1 or 0 (no attributes)
    genres: list[str]

    def __post_init__(self) -> None:
        self.index = {item: k for k, item in enumerate(self.ids)}
        # the nonzero entries, row by row: an item has a dozen of the ~1,000 columns, so a
        # product over them is ~100x less work than the dense one (which streamed the
        # whole matrix from memory for every acting user: 8% of the worker's time)
        rows, cols = np.nonzero(self.vectors)
        self._rows, self._cols, self._values = rows, cols, self.vectors[rows, cols]
        self._starts = np.searchsorted(rows, np.arange(len(self.ids) + 1))  # row k's entries

    def combined(self, index: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``weights @ vectors[index]``, over the listed rows' nonzero entries only."""
        starts, ends = self._starts[index], self._starts[index + 1]
        lengths = ends - starts
        before = np.cumsum(lengths) - lengths
        at = np.arange(int(lengths.sum())) + np.repeat(starts - before, lengths)
        products = self._values[at] * np.repeat(weights, lengths)
        return np.bincount(self._cols[at], weights=products, minlength=self.vectors.shape[1])

    def scores(self, direction: np.ndarray) -> np.ndarray:
        """``vectors @ direction``, each item's products summed in column order."""
        products = self._values * direction[self._cols]
        return np.bincount(self._rows, weights=products, minlength=len(self.ids))

    def __len__(self) -> int:
        return len(self.ids)

    def vector(self, item: str) -> np.ndarray | None:
        k = self.index.get(item)
        return None if k is None else self.vectors[k]


def _tfidf(docs: Sequence[list[str]], width: int) -> np.ndarray:
    counts = np.zeros((len(docs), width))
    for row, tokens in enumerate(docs):
        for token in tokens:
            counts[row, _column(token, width)] += 1.0
    df = np.count_nonzero(counts, axis=0)
    idf = np.log((1.0 + len(docs)) / (1.0 + df)) + 1.0  # smoothed, as scikit-learn does
    return counts * idf


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, matrix / np.where(norms > 0, norms, 1.0), 0.0)


def build(items: Mapping[str, Mapping[str, Any]], config: ContentConfig) -> Catalogue:
    """Vectors for every item of ``items`` (item id → {"title", "attributes"})."""
    ids = sorted(items)
    attrs = [dict(items[i].get("attributes") or {}) for i in ids]
    genres = sorted({g for a in attrs for g in a.get("genres", []) if isinstance(g, str)})
    genre_col = {g: k for k, g in enumerate(genres)}
    multi_hot = np.zeros((len(ids), len(genres)))
    for row, a in enumerate(attrs):
        for g in a.get("genres", []):
            if g in genre_col:
                multi_hot[row, genre_col[g]] = 1.0
    buckets = (YEAR_MAX - YEAR_MIN) // config.year_bucket + 1
    years = np.zeros((len(ids), buckets))
    for row, a in enumerate(attrs):
        year = a.get("year")
        if isinstance(year, int) and not isinstance(year, bool):
            b = (min(max(year, YEAR_MIN), YEAR_MAX) - YEAR_MIN) // config.year_bucket
            years[row, b] = 1.0
            years[row, max(b - 1, 0)] += 0.0 if b == 0 else 0.5
            years[row, min(b + 1, buckets - 1)] += 0.0 if b == buckets - 1 else 0.5
    title_words = _tfidf([words(str(items[i].get("title", ""))) for i in ids], config.hashed_words)
    tags = _tfidf(
        [[str(t).lower() for t in a.get("tags", []) if isinstance(t, str)] for a in attrs],
        config.hashed_words,
    )
    parts = [
        config.genre_weight * _unit_rows(multi_hot),
        config.year_weight * _unit_rows(years),
        config.words_weight * _unit_rows(title_words),
        config.tags_weight * _unit_rows(tags),
    ]
    return Catalogue(ids, _unit_rows(np.hstack(parts)), genres)


def similar_rows(
    catalogue: Catalogue, rows: Sequence[int], size: int, block: int = 1024
) -> dict[str, list[tuple[str, float]]]:
    """Each listed row's ``size`` most similar other items (cosine > 0), best first, ties
    by id. Computed in blocks of rows, so memory stays at block × catalogue floats."""
    return nearest(catalogue.ids, catalogue.vectors, rows, size, block)


def nearest(
    ids: Sequence[str], unit: np.ndarray, rows: Sequence[int], size: int, block: int = 1024
) -> dict[str, list[tuple[str, float]]]:
    """The ``size`` items of highest cosine > 0 with each listed row of ``unit`` (unit-length
    rows, ``ids`` in sorted order), itself left out; a block of rows is one matrix
    product and one ``top_k_rows``, at most ``block`` rows and ``BLOCK_CELLS`` scores at
    a time."""
    out: dict[str, list[tuple[str, float]]] = {}
    block = max(1, min(block, BLOCK_CELLS // max(len(ids), 1)))
    for start in range(0, len(rows), block):
        chunk = np.asarray(rows[start : start + block], dtype=np.int64)
        sims = unit[chunk] @ unit.T
        sims[np.arange(len(chunk)), chunk] = 0.0  # not similar to itself
        for r, (k, best) in enumerate(
            zip(chunk.tolist(), top_k_rows(sims, size, 1e-12), strict=True)
        ):
            at = best.tolist()  # two plain lists zipped, not numpy scalars one by one
            out[ids[k]] = list(zip([ids[j] for j in at], sims[r, best].tolist(), strict=True))
    return out


def top(ids: Sequence[str], scores: np.ndarray, size: int) -> list[tuple[str, float]]:
    """The ``size`` positive scores, best first; ties by id."""
    at = top_k(ids, scores, size, above=1e-12)
    scores = np.asarray(scores, dtype=np.float64)
    return list(zip([ids[k] for k in at.tolist()], scores[at].tolist(), strict=True))
