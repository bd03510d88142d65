"""The baseline a user-based prediction starts from: μ + b_u + b_i (Koren, "Factor in the
Neighbors", TKDD 2010, §2.1), from exact counts and sums only.

μ is the mean of every current rating and b_i = Σ(r_ui − μ)/(λ_i + n_i) an item's bias,
damped towards 0 for few ratings. The user asking gets Koren's bias fitted after the
items': b_u = Σ_i∈u (r_ui − μ − b_i)/(λ_u + n_u), read from the (n, Σ r) of every item
they rated. The raters whose deviations carry the prediction get b_v = Σ(r_vi − μ)/(λ_u
+ n_v) from their own (n, Σ r): reading every rater's items would make one prediction
read the whole rating matrix around a popular item. Every input is a count or a sum the
worker keeps exactly, so the baseline is exact after every event, as the sums are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def global_mean(count: float, total: float) -> float | None:
    """μ from the number and the sum of every current rating; None before the first."""
    return total / count if count > 0 else None


def bias(
    count: float | np.ndarray, total: float | np.ndarray, mu: float, damping: float
) -> float | np.ndarray:
    """Σ(r − μ)/(λ + n) from n and Σ r; 0 for a row with no rating (also at λ = 0)."""
    count = np.asarray(count, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    denominator = damping + count
    safe = np.where(denominator > 0, denominator, 1.0)
    out = np.where(count > 0, (total - count * mu) / safe, 0.0)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class Baseline:
    """μ and one item's bias, with the dampings the user biases take."""

    mu: float
    item_bias: float
    item_damping: float
    user_damping: float

    @classmethod
    def of_item(
        cls,
        totals: tuple[float, float],
        item: tuple[float, float],
        item_damping: float,
        user_damping: float,
    ) -> Baseline | None:
        """From (n, Σ r) over every rating and over the item's; None before any rating."""
        mu = global_mean(*totals)
        if mu is None:
            return None
        return cls(mu, float(bias(item[0], item[1], mu, item_damping)), item_damping, user_damping)

    def raters(self, counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
        """μ + b_v + b_i of raters with ``counts`` ratings summing to ``totals``."""
        biases = np.asarray(bias(counts, totals, self.mu, self.user_damping), dtype=np.float64)
        return self.mu + self.item_bias + biases

    def user(
        self, count: float, total: float, rated_counts: np.ndarray, rated_totals: np.ndarray
    ) -> float:
        """μ + b_u + b_i of the user asking, b_u fitted after the biases of the items they
        rated (``rated_*``: (n, Σ r) of each of those items)."""
        item_biases = bias(rated_counts, rated_totals, self.mu, self.item_damping)
        residual = total - count * self.mu - float(np.sum(item_biases))
        denominator = self.user_damping + count
        b_u = residual / denominator if count > 0 and denominator > 0 else 0.0
        return self.mu + b_u + self.item_bias
