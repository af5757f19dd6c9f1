"""Pool statistics: fits, ICs and cross-validation from per-date sums, against plain numpy."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.mining.blocks import pool_folds
from quantrl.mining.pool_stats import LabelSums, PoolStats, cv_objectives, fit_weights

T, N, K = 60, 25, 3


@pytest.fixture(scope="module")
def data():
    """Three per-date standardised factors and a label on a ragged universe (some cells off)."""
    rng = np.random.default_rng(7)
    universe = rng.random((T, N)) > 0.15
    z = rng.standard_normal((K, T, N))
    y = 0.3 * z[0] - 0.2 * z[1] + rng.standard_normal((T, N))
    z = np.where(universe, z, 0.0)
    y = np.where(universe, y, np.nan)
    n = universe.sum(axis=1).astype(np.float64)
    y0 = np.where(universe, y, 0.0)
    mean = y0.sum(axis=1) / n
    y_c = np.where(universe, y - mean[:, None], 0.0)
    std = np.sqrt((y_c * y_c).sum(axis=1) / n)
    y_std = y_c / std[:, None]
    stats = PoolStats.empty(T)
    for i in range(K):
        cross = np.zeros((T, i))
        for j in range(i):
            cross[:, j] = (z[i] * z[j]).sum(axis=1)
        s, zz = z[i].sum(axis=1), (z[i] * z[i]).sum(axis=1)
        stats = stats.grow(s, zz, cross, (z[i] * y_std).sum(axis=1), (z[i] * y_c).sum(axis=1))
    y_ss = (y_c * y_c).sum(axis=1)
    label = LabelSums(n, y_ss, (n >= 2) & (y_ss > 0))
    return z, y, y_std, universe, stats, label


def _pearson_by_date(x: np.ndarray, y: np.ndarray, universe: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(x[t][universe[t]], y[t][universe[t]])[0, 1] for t in range(T)])


def test_fit_matches_least_squares(data) -> None:
    """The weights solve the pooled least-squares problem over every date's universe."""
    z, _, y_std, universe, stats, _ = data
    design = np.stack([z[i][universe] for i in range(K)], axis=1)
    reference = np.linalg.lstsq(design, y_std[universe], rcond=None)[0]
    np.testing.assert_allclose(fit_weights(stats, ridge=0.0), reference, rtol=1e-6)
    assert fit_weights(PoolStats.empty(T), ridge=1e-8).shape == (0,)


def test_ic_and_mutual_match_numpy(data) -> None:
    """The per-date IC of a combination and the members' mean per-date correlations are
    numpy's Pearson correlations on each date's universe."""
    z, y, _, universe, stats, label = data
    w = np.array([0.5, -1.0, 0.25])
    combo = np.tensordot(w, z, axes=1)
    np.testing.assert_allclose(label.ic(stats, w), _pearson_by_date(combo, y, universe), atol=1e-12)
    expected = [np.mean(_pearson_by_date(z[2], z[j], universe)) for j in range(K)]
    np.testing.assert_allclose(stats.mutual(2, label.n), expected, atol=1e-12)
    kept = stats.take([2, 0])
    np.testing.assert_array_equal(kept.g[:, 0, 1], stats.g[:, 2, 0])
    single = PoolStats.single(stats.s[:, 1], stats.g[:, 1, 1], stats.b[:, 1], stats.c[:, 1])
    np.testing.assert_allclose(
        label.ic(single, np.ones(1)), _pearson_by_date(z[1], y, universe), atol=1e-12
    )


@pytest.mark.parametrize("purge", [0, 4])
def test_cv_objectives_refit_without_the_block_and_its_neighbours(data, purge: int) -> None:
    """Each block's objective is its mean IC under weights refitted, by plain least squares, on
    the dates outside the block and outside ``purge`` rows on either side of it."""
    z, y, y_std, universe, stats, label = data
    folds = pool_folds(label.dates_ok, 3, purge)
    got = cv_objectives(stats, folds, label, ridge=0.0)
    rows = np.arange(T)
    for i, idx in enumerate(folds.parts):
        near = (rows >= idx[0] - purge) & (rows <= idx[-1] + purge)
        fit = universe & ~near[:, None]
        design = np.stack([z[j][fit] for j in range(K)], axis=1)
        w = np.linalg.lstsq(design, y_std[fit], rcond=None)[0]
        ic = _pearson_by_date(np.tensordot(w, z, axes=1), y, universe)[idx]
        assert got[i] == pytest.approx(ic.mean(), abs=1e-9)
