"""The fast exact Spearman path: packed-key row sorts, ranks on valid pairs, cached label keys."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from quantrl.kernels.correlation import key_shift, sorted_keys, spearman_rows, spearman_rows_nb
from quantrl.stats.ic import label_order, rank_ic_series


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


def test_sorted_keys_order_values_by_code(rng):
    x = awkward(rng)
    keys = sorted_keys(x)
    shift = key_shift(x.shape[1])
    assert keys.dtype == np.int32
    for t in range(x.shape[0]):
        cols = keys[t] & ((1 << shift) - 1)
        codes = keys[t] >> shift
        assert sorted(cols) == list(range(x.shape[1]))  # a permutation of the columns
        assert np.all(np.diff(codes) >= 0)
        finite = np.isfinite(x[t, cols])
        k = int(finite.sum())
        assert finite[:k].all()  # finite values first
        vals = x[t, cols[:k]]
        # a larger code means a strictly larger value; equal values share a code
        assert np.all(vals[1:][np.diff(codes[:k]) > 0] > vals[:-1][np.diff(codes[:k]) > 0])
        assert np.all(codes[:k][1:][np.diff(vals) == 0] == codes[:k][:-1][np.diff(vals) == 0])


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: 1.0 + rng.normal(size=(20, 300)) * 1e-13,  # all within a few codes
        lambda rng: np.exp(rng.normal(size=(20, 300)) * 30),  # heavy tails
        lambda rng: np.where(rng.random((20, 300)) < 0.5, -1e308, 1e308) * rng.random((20, 300)),
        lambda rng: np.round(rng.normal(size=(20, 300)) * 2) + 0.0 * rng.random((20, 300)),
        lambda rng: rng.normal(size=(20, 5000)),  # 13 index bits: still 32-bit keys
        lambda rng: rng.normal(size=(3, 70000)),  # 17 index bits: 64-bit keys
    ],
)
def test_fast_spearman_exact_on_extreme_rows(rng, make):
    x = make(rng)
    y = x[:, ::-1] + rng.normal(size=x.shape)
    fast = spearman_rows(x, y)
    for t in range(x.shape[0]):
        assert fast[t] == pytest.approx(spearmanr(x[t], y[t]).statistic, abs=1e-12)


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
    assert order.dtype == np.int32
    with pytest.raises(Exception, match="order has shape"):
        rank_ic_series(factor, label, order=order[:, :10])
