"""Flat windows: spreads are exactly 0 (correlations missing) where a window repeats one value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import quantrl
from quantrl.alpha import evaluate
from quantrl.kernels import rolling as rk
from quantrl.kernels.flat_windows import set_flat_nb, set_flat_pair_nb


def _flat_reference(x: np.ndarray, w: int) -> np.ndarray:
    """Windows of w finite rows whose max equals their min (pandas)."""
    df = pd.DataFrame(x)
    full = df.rolling(w).count().to_numpy() == w
    return full & (df.rolling(w).max().to_numpy() == df.rolling(w).min().to_numpy())


@pytest.mark.parametrize("w", [1, 2, 5])
def test_set_flat_matches_pandas(w: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (300, 7)).astype(float)  # many repeats
    x[rng.random(x.shape) < 0.05] = np.nan
    x[10:20, 3] = np.inf
    out = np.full(x.shape, 7.0)
    set_flat_nb(out, x, w, -1.0)
    np.testing.assert_array_equal(out == -1.0, _flat_reference(x, w))
    y = rng.normal(size=x.shape)
    y[rng.random(y.shape) < 0.05] = np.nan
    out = np.full(x.shape, 7.0)
    set_flat_pair_nb(out, x, y, w, -1.0)
    both = pd.DataFrame(np.isfinite(x) & np.isfinite(y)).rolling(w).sum().to_numpy() == w
    expected = both & (_flat_reference(x, w) | _flat_reference(y, w))
    np.testing.assert_array_equal(out == -1.0, expected)


def test_spreads_of_flat_windows_are_exactly_zero() -> None:
    """A rolling minimum is flat for weeks: its std is 0 there, not rounding noise, and a
    quotient by it is missing; elsewhere the values are the running-sum kernel's."""
    panel = quantrl.load_market("sp500", end="2014-12-31")
    inner = evaluate("Min($low, 50)", panel)
    flat = _flat_reference(inner, 10)
    assert flat.mean() > 0.2
    raw = rk.rolling_std_nb(inner, 10)
    assert np.any(raw[flat] != 0)  # the running sums alone leave noise
    std = evaluate("Std(Min($low, 50), 10)", panel)
    np.testing.assert_array_equal(std[flat], 0.0)
    np.testing.assert_array_equal(std[~flat], raw[~flat])
    assert np.all(evaluate("Var(Min($low, 50), 10)", panel)[flat] == 0.0)
    assert np.all(evaluate("Mad(Min($low, 50), 10)", panel)[flat] == 0.0)
    assert np.all(evaluate("Cov(Min($low, 50), $close, 10)", panel)[flat] == 0.0)
    assert np.all(np.isnan(evaluate("Corr($close, Min($low, 50), 10)", panel)[flat]))
    assert not np.any(np.isfinite(evaluate("Div($close, Std(Min($low, 50), 10))", panel)[flat]))
