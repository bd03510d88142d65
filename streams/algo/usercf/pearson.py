"""Mean-independent co-rating sums and the Pearson similarity they give, exactly.

For a pair (u, v) over their co-rated items I_uv we keep six sums that do not depend on
either user's mean:

    n = |I_uv|,  su = Σ r_u,  sv = Σ r_v,  suu = Σ r_u²,  svv = Σ r_v²,  suv = Σ r_u·r_v

With the users' current overall means m_u and m_v (over *all* their ratings):

    Σ (r_u - m_u)(r_v - m_v) = suv - m_v·su - m_u·sv + n·m_u·m_v
    Σ (r_u - m_u)²           = suu - 2·m_u·su + n·m_u²
    Σ (r_v - m_v)²           = svv - 2·m_v·sv + n·m_v²

so a change of m_u never requires touching u's pairs: the similarity is evaluated from
the sums on demand. Sums are stored from u's side (u's ratings first).
"""

from __future__ import annotations

import numpy as np

N, SU, SV, SUU, SVV, SUV = range(6)
WIDTH = 6
# Below this (relative to the sums' scale) a variance counts as zero: no similarity.
ZERO_VARIANCE = 1e-9


def stats_delta(old: float | None, new: float | None) -> tuple[float, float, float]:
    """Change of (count, sum, sum of squares) when a rating goes from ``old`` to ``new``.

    ``None`` means "no rating": (None, r) is a new rating, (r, None) a retraction.
    """
    o, n_ = old or 0.0, new or 0.0
    return (
        float(new is not None) - float(old is not None),
        n_ - o,
        n_ * n_ - o * o,
    )


def pair_deltas(old: float | None, new: float | None, others: np.ndarray) -> np.ndarray:
    """Change of u's side of the sums with each v, rows aligned with ``others`` (v's
    ratings of the item), when u's rating of that item goes from ``old`` to ``new``.
    v's side is the same row with u and v swapped (:func:`swap_sides`)."""
    d_n, d_su, d_suu = stats_delta(old, new)
    d_prod = (new or 0.0) - (old or 0.0)
    rows = np.empty((len(others), WIDTH))
    rows[:, N], rows[:, SU], rows[:, SUU] = d_n, d_su, d_suu
    rows[:, SV], rows[:, SVV], rows[:, SUV] = others * d_n, others * others * d_n, others * d_prod
    return rows


def swap_sides(sums: np.ndarray) -> np.ndarray:
    """u's view of the pair sums → v's view (works on one row or on a matrix of rows)."""
    return sums[..., [N, SV, SU, SVV, SUU, SUV]]


def pearson(
    sums: np.ndarray,
    mean_u: float,
    means_v: np.ndarray | float,
    min_support: int = 1,
    shrinkage: float = 0.0,
) -> np.ndarray:
    """Pearson similarity of u with each v from rows of pair sums (shape (m, 6) or (6,)).

    A zero variance on either side, or fewer than ``min_support`` co-rated items, gives 0.
    With ``shrinkage`` λ > 0 the similarity is weighted by its significance, sim·n/(n+λ)
    over n co-rated items (Herlocker et al., SIGIR 1999; Koren, TKDD 2010): Pearson over
    one or two shared items is ±1 or nearly, and says little. The sums stay exact and
    unshrunk; this is applied where they are read.
    """
    s = np.asarray(sums, dtype=np.float64)
    mv = np.asarray(means_v, dtype=np.float64)
    n, su, sv = s[..., N], s[..., SU], s[..., SV]
    cov = s[..., SUV] - mv * su - mean_u * sv + n * mean_u * mv
    var_u = s[..., SUU] - 2 * mean_u * su + n * mean_u * mean_u
    var_v = s[..., SVV] - 2 * mv * sv + n * mv * mv
    scale_u = np.maximum(s[..., SUU], 1.0)
    scale_v = np.maximum(s[..., SVV], 1.0)
    ok = (n >= max(min_support, 1)) & (var_u > ZERO_VARIANCE * scale_u)
    ok &= var_v > ZERO_VARIANCE * scale_v
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(ok, cov / np.sqrt(np.where(ok, var_u * var_v, 1.0)), 0.0)
    return significance(np.clip(sim, -1.0, 1.0), n, min_support, shrinkage)


def significance(
    sim: np.ndarray | float, n: np.ndarray | float, min_support: int = 1, shrinkage: float = 0.0
) -> np.ndarray:
    """A raw similarity over ``n`` co-rated items as the neighbourhoods use it: 0 below
    ``min_support``, else weighted by n/(n+λ)."""
    n = np.asarray(n, dtype=np.float64)
    weight = n / (n + shrinkage) if shrinkage > 0 else 1.0
    return np.where(n >= max(min_support, 1), np.asarray(sim) * weight, 0.0)
