"""The fast exact Spearman path: packed-key sort order, ranks on valid pairs, cached label order."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from quantrl.evaluation.alpha import label_order, rank_ic_series
from quantrl.kernels.correlation import sorted_order, spearman_rows, spearman_rows_nb


def awkward(rng: np.random.Generator, t: int = 60, n: int = 700) -> np.ndarray:
    x = rng.normal(size=(t, n))
    x[:, :40] = np.round(x[:, :40])  # exact ties
    x[:, 40] = x[:, 41] * (1 + 1e-15)  # closer than the packed key's resolution
    x[:, 42] = -0.0
    x[:, 43] = 0.0
    x[rng.random(x.shape) < 0.1] = np.nan
    x[3, 5] = np.inf
    x[4, 6] = -np.inf
    x[5, :] = np.nan
    x[6, 1:] = np.nan
    x[7] = 2.5  # constant row
    return x


def test_sorted_order_sorts_finite_values_exactly(rng):
    x = awkward(rng)
    order = sorted_order(x)
    for t in range(x.shape[0]):
        finite = np.isfinite(x[t])
        k = int(finite.sum())
        vals = x[t, order[t, :k]]
        assert np.all(np.diff(vals) >= 0)
        assert set(order[t, :k]) == set(np.flatnonzero(finite))
        assert sorted(order[t]) == list(range(x.shape[1]))


def test_fast_spearman_equals_scipy_and_reference(rng):
    x, y = awkward(rng), awkward(rng)
    fast = spearman_rows(x, y)
    np.testing.assert_allclose(fast, spearman_rows_nb(x, y), rtol=1e-12, atol=1e-14)
    for t in range(x.shape[0]):
        ok = np.isfinite(x[t]) & np.isfinite(y[t])
        if ok.sum() < 2 or np.ptp(x[t, ok]) == 0 or np.ptp(y[t, ok]) == 0:
            assert np.isnan(fast[t])
        else:
            assert fast[t] == pytest.approx(spearmanr(x[t, ok], y[t, ok]).statistic, abs=1e-12)


def test_cached_label_order_gives_identical_rank_ic(rng):
    factor, label = awkward(rng), awkward(rng)
    order = label_order(label)
    np.testing.assert_array_equal(
        rank_ic_series(factor, label, order=order), rank_ic_series(factor, label)
    )
    with pytest.raises(Exception, match="order has shape"):
        rank_ic_series(factor, label, order=order[:, :10])
