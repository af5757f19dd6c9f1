"""Rolling kernels against plain numpy references on wide arrays with NaNs, infs and ties.

The order statistics, Mad and EMA references repeat each kernel's arithmetic in the same order,
so they must agree to the bit; the std is pinned to the square root of the variance kernel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from quantrl.kernels import rolling as rk
from quantrl.kernels import rolling_order as ro

WINDOWS = (1, 2, 3, 4, 5, 6, 9, 10, 13, 20)


def awkward(rng: np.random.Generator, t: int = 150, n: int = 70) -> np.ndarray:
    """More columns than one column block, exact ties, signed zeros, NaNs, infs, late listings."""
    x = 50.0 + np.cumsum(rng.normal(size=(t, n)), axis=0)
    x[:, :10] = np.round(x[:, :10])  # exact ties inside windows
    x[:, 10] = 0.0
    x[::3, 10] = -0.0
    x[rng.random(x.shape) < 0.03] = np.nan
    x[17, 3] = np.inf
    x[40, 4] = -np.inf
    x[:60, 5] = np.nan  # a symbol listed late
    x[:, 6] = np.nan  # a symbol never traded
    return x


def windows(x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The full windows (T - w + 1, N, w), oldest row first, and which hold only finite values."""
    win = sliding_window_view(x, w, axis=0)
    return win, np.isfinite(win).all(axis=-1)


def with_warmup(values: np.ndarray, ok: np.ndarray, w: int) -> np.ndarray:
    out = np.full((values.shape[0] + w - 1, values.shape[1]), np.nan)
    out[w - 1 :] = np.where(ok, values, np.nan)
    return out


@pytest.mark.parametrize("w", WINDOWS)
@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_quantile_is_the_sorted_window(rng, w, q):
    x = awkward(rng)
    win, ok = windows(x, w)
    s = np.sort(win, axis=-1)
    pos = q * (w - 1)
    lo = int(np.floor(pos))
    frac = pos - lo
    a = s[..., lo]
    with np.errstate(invalid="ignore"):  # inf - inf in windows that come out NaN
        value = a + frac * (s[..., lo + 1] - a) if lo + 1 < w else a
    expected = with_warmup(value, ok, w)
    got = ro.rolling_quantile_nb(x, w, q)
    assert np.array_equal(got, expected, equal_nan=True)
    if q == 0.5:
        assert np.array_equal(ro.rolling_median_nb(x, w), got, equal_nan=True)
        frame = pd.DataFrame(x).rolling(w).median().to_numpy()
        np.testing.assert_allclose(got, np.where(np.isnan(got), np.nan, frame), rtol=1e-12)


@pytest.mark.parametrize("w", WINDOWS)
def test_rank_counts_the_window(rng, w):
    x = awkward(rng)
    win, ok = windows(x, w)
    last = win[..., -1:]
    less = (win < last).sum(axis=-1)
    equal = (win == last).sum(axis=-1)
    expected = with_warmup((less + (equal + 1) / 2.0) / w, ok, w)
    assert np.array_equal(ro.rolling_rank_nb(x, w), expected, equal_nan=True)


@pytest.mark.parametrize("w", WINDOWS)
def test_mad_sums_the_window_in_row_order(rng, w):
    x = awkward(rng)
    mean = rk.rolling_mean_nb(x, w)
    win, ok = windows(x, w)
    centre = mean[w - 1 :]
    acc = np.zeros(centre.shape)
    for k in range(w):  # one row after the other, as the kernel adds them
        acc = acc + np.abs(win[..., k] - centre)
    expected = with_warmup(acc / w, ok, w)
    got = rk.rolling_mad_nb(x, w)
    assert np.array_equal(got, expected, equal_nan=True)
    with np.errstate(invalid="ignore"):
        plain = np.abs(win - win.mean(axis=-1, keepdims=True)).mean(axis=-1)
    plain = with_warmup(plain, ok, w)
    np.testing.assert_allclose(got, plain, rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("w", WINDOWS[1:])
def test_std_is_the_root_of_the_variance(rng, w):
    x = awkward(rng)
    std = rk.rolling_std_nb(x, w)
    assert np.array_equal(std, np.sqrt(rk.rolling_var_nb(x, w)), equal_nan=True)
    win, ok = windows(x, w)
    with np.errstate(invalid="ignore"):
        expected = with_warmup(win.std(axis=-1, ddof=1), ok, w)  # two-pass numpy
    np.testing.assert_allclose(std, expected, rtol=1e-8, atol=1e-10, equal_nan=True)


@pytest.mark.parametrize("w", WINDOWS)
def test_ema_follows_the_adjusted_recursion(rng, w):
    x = awkward(rng)
    alpha = 2.0 / (w + 1.0)
    decay = 1.0 - alpha
    finite = np.isfinite(x)
    num = np.zeros(x.shape[1])
    den = np.zeros(x.shape[1])
    expected = np.full(x.shape, np.nan)
    for t in range(x.shape[0]):
        num = num * decay + np.where(finite[t], x[t], 0.0)
        den = den * decay + np.where(finite[t], 1.0, 0.0)
        if t >= w - 1:
            ok = finite[t - w + 1 : t + 1].all(axis=0) & (den > 0.0)
            expected[t] = np.where(ok, num / np.where(ok, den, 1.0), np.nan)
    got = rk.ewm_mean_nb(x, alpha, w)
    assert np.array_equal(got, expected, equal_nan=True)
    frame = pd.DataFrame(np.where(finite, x, np.nan)).ewm(alpha=alpha, adjust=True).mean()
    np.testing.assert_allclose(
        got, np.where(np.isnan(got), np.nan, frame.to_numpy()), rtol=1e-9, equal_nan=True
    )
