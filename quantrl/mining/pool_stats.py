"""Per-date sufficient statistics of a linear alpha pool: closed-form fits and ICs from sums.

A pool of k standardised factors z_1 .. z_k (0 outside the label universe) is summarised per
date t by ``s[t, i] = sum_n z_i``, ``g[t, i, j] = sum_n z_i z_j``, ``b[t, i] = sum_n z_i y_std``
and ``c[t, i] = sum_n z_i y_c`` (the label standardised, and centred, per date). The least-squares
weights, the per-date IC of any weight vector, the mutual correlations of the members and the
cross-validated ICs all follow from these sums in O(T k^2), without touching the (T, N) factors
again. ``quantrl.mining.pool.AlphaPool`` keeps one ``PoolStats`` per state of its members.
``gain_t_stat`` is the Newey-West t of a change's per-date gain (the pool's ``t_gate``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantrl.kernels.projection import combination_ic_nb
from quantrl.mining.blocks import PoolFolds
from quantrl.stats.inference import ic_lags, newey_west_t

__all__ = [
    "LabelSums",
    "PoolStats",
    "cv_objectives",
    "finite_mean",
    "fit_weights",
    "gain_t_stat",
    "ridge_solve",
]


def finite_mean(values: np.ndarray, empty: float = 0.0) -> float:
    """Mean of the finite entries; ``empty`` when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else empty


@dataclass(frozen=True)
class PoolStats:
    """Per-date sums of k factors over the label universe."""

    s: np.ndarray  # (T, k)   sum_n z_i
    g: np.ndarray  # (T, k, k) sum_n z_i z_j
    b: np.ndarray  # (T, k)   sum_n z_i y_std
    c: np.ndarray  # (T, k)   sum_n z_i y_c

    @classmethod
    def empty(cls, n_dates: int) -> PoolStats:
        """The sums of no factor over ``n_dates`` dates."""
        t = n_dates
        return cls(np.zeros((t, 0)), np.zeros((t, 0, 0)), np.zeros((t, 0)), np.zeros((t, 0)))

    @classmethod
    def single(cls, s: np.ndarray, zz: np.ndarray, b: np.ndarray, c: np.ndarray) -> PoolStats:
        """The sums of one factor from its per-date ``s``, ``zz`` (sum z^2), ``b`` and ``c``."""
        return cls(s[:, None], zz[:, None, None], b[:, None], c[:, None])

    @property
    def size(self) -> int:
        """Number of factors k."""
        return int(self.s.shape[1])

    def grow(
        self, s: np.ndarray, zz: np.ndarray, cross: np.ndarray, b: np.ndarray, c: np.ndarray
    ) -> PoolStats:
        """The sums with one more factor: its own sums and ``cross`` (T, k), its per-date sums
        times each factor already here."""
        t, k = self.s.shape
        g = np.empty((t, k + 1, k + 1))  # every cell is written below
        g[:, :k, :k] = self.g
        g[:, :k, k] = cross
        g[:, k, :k] = cross
        g[:, k, k] = zz
        return PoolStats(
            np.concatenate([self.s, s[:, None]], axis=1),
            g,
            np.concatenate([self.b, b[:, None]], axis=1),
            np.concatenate([self.c, c[:, None]], axis=1),
        )

    def take(self, keep: list[int]) -> PoolStats:
        """The sums of the factors at positions ``keep``, in that order."""
        idx = np.asarray(keep, dtype=np.int64)
        return PoolStats(
            self.s[:, idx], self.g[:, idx[:, None], idx], self.b[:, idx], self.c[:, idx]
        )

    def mutual(self, k: int, n: np.ndarray) -> np.ndarray:
        """Mean per-date correlation of factor ``k`` with every factor (``n``: cells per date)."""
        n = np.where(n > 0, n, 1.0)
        cov = self.g[:, k, :] - self.s[:, k : k + 1] * self.s / n[:, None]
        var = np.einsum("tii->ti", self.g) - self.s * self.s / n[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.sqrt(var[:, k : k + 1] * var)
        corr = np.where(np.isfinite(corr) & (var > 1e-12) & (var[:, k : k + 1] > 1e-12), corr, 0)
        valid = ((var > 1e-12) & (var[:, k : k + 1] > 1e-12)).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(valid > 0, corr.sum(axis=0) / np.maximum(valid, 1), 0.0)


@dataclass(frozen=True)
class LabelSums:
    """What a combination's per-date IC needs of the label: its cells per date ``n``, its
    centred sum of squares ``y_ss`` and the dates where an IC is defined (``n >= 2``, a label
    that varies)."""

    n: np.ndarray
    y_ss: np.ndarray
    dates_ok: np.ndarray

    def ic(self, stats: PoolStats, weights: np.ndarray) -> np.ndarray:
        """Per-date Pearson IC of the combination ``weights`` of the factors in ``stats`` (the
        label is centred, so ``sum combo * y_c`` is the covariance's numerator); NaN where
        undefined."""
        w = np.ascontiguousarray(weights, dtype=np.float64)
        return combination_ic_nb(stats.s, stats.g, stats.c, w, self.n, self.y_ss, self.dates_ok)


def ridge_solve(a: np.ndarray, rhs: np.ndarray, ridge: float) -> np.ndarray:
    """Weights from summed normal equations ``a w = rhs``, with the ridge ``ridge * trace / k``
    (least squares where even that is singular)."""
    k = a.shape[0]
    lam = max(ridge, 1e-12) * max(float(np.trace(a)) / k, 1e-300)
    try:
        return np.linalg.solve(a + lam * np.eye(k), rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(a, rhs, rcond=None)[0]


def fit_weights(stats: PoolStats, ridge: float) -> np.ndarray:
    """Least-squares weights of the factors in ``stats`` on every date (none for no factor)."""
    if stats.size == 0:
        return np.zeros(0)
    return ridge_solve(stats.g.sum(axis=0), stats.b.sum(axis=0), ridge)


def cv_objectives(
    stats: PoolStats, folds: PoolFolds, label: LabelSums, ridge: float
) -> list[float]:
    """Per block of ``folds``, the block's mean IC with weights fitted on the other, purged,
    blocks: their normal equations are the sums over every usable date less the block's own and
    less its purged neighbours'."""
    t, k = stats.s.shape
    g = stats.g.reshape(t, k * k)
    g_blocks = (folds.held @ g).reshape(len(folds.parts), k, k)
    b_blocks = folds.held @ stats.b
    g_all, b_all = g_blocks.sum(axis=0), b_blocks.sum(axis=0)
    g_fit, b_fit = g_all - g_blocks, b_all - b_blocks
    if folds.purged is not None:
        g_fit -= (folds.purged @ g).reshape(g_fit.shape)
        b_fit -= folds.purged @ stats.b
    out = []
    for i, idx in enumerate(folds.parts):
        w = ridge_solve(g_fit[i], b_fit[i], ridge)
        out.append(finite_mean(label.ic(stats, w)[idx]))
    return out


def gain_t_stat(after: np.ndarray, before: np.ndarray, horizon: int) -> float:
    """Newey-West t of the per-date gain ``after - before`` (dates where both are finite), with
    ``quantrl.stats.inference.ic_lags`` for ``horizon``-row overlapping labels; NaN when
    undefined (fewer than 2 dates, or a constant gain)."""
    gain = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)
    gain = gain[np.isfinite(gain)]
    return float(newey_west_t(gain, lags=ic_lags(gain.size, horizon)).t)
