"""Minimum-variance, maximum-Sharpe and risk-parity weights against closed forms and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from quantrl.backtest.allocation import (
    allocate,
    max_sharpe_weights,
    min_variance_weights,
    risk_parity_weights,
    trailing_weights,
)
from quantrl.errors import ConfigError


def _simplex_grid(n: int, steps: int) -> np.ndarray:
    """Every long-only, fully invested weight vector on a grid of 1/steps."""
    rows = [c for c in itertools.product(range(steps + 1), repeat=n - 1) if sum(c) <= steps]
    return np.array([[*c, steps - sum(c)] for c in rows], dtype=float) / steps


COV3 = np.array([[0.040, 0.006, 0.010], [0.006, 0.090, 0.030], [0.010, 0.030, 0.160]])


def test_two_asset_minimum_variance_is_the_textbook_formula() -> None:
    s1, s2, rho = 0.2, 0.3, 0.25
    cov = np.array([[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]])
    w1 = (s2**2 - rho * s1 * s2) / (s1**2 + s2**2 - 2 * rho * s1 * s2)
    np.testing.assert_allclose(min_variance_weights(cov), [w1, 1 - w1], atol=1e-7)


def test_interior_minimum_variance_matches_the_unconstrained_solution() -> None:
    inv = np.linalg.inv(COV3)
    ref = inv @ np.ones(3) / (np.ones(3) @ inv @ np.ones(3))
    assert (ref > 0).all()
    np.testing.assert_allclose(min_variance_weights(COV3), ref, atol=1e-7)


def test_a_binding_long_only_constraint_matches_a_grid_search() -> None:
    # asset 2 is a noisy copy of asset 0: the unconstrained solution shorts it
    cov = np.array([[0.04, 0.01, 0.05], [0.01, 0.09, 0.0], [0.05, 0.0, 0.09]])
    inv = np.linalg.inv(cov)
    assert (inv @ np.ones(3)).min() < 0
    grid = _simplex_grid(3, 400)
    best = grid[np.argmin(np.einsum("ij,jk,ik->i", grid, cov, grid))]
    w = min_variance_weights(cov)
    assert w[2] == pytest.approx(0.0, abs=1e-8)
    np.testing.assert_allclose(w, best, atol=5e-3)
    assert w @ cov @ w <= best @ cov @ best + 1e-12


def test_max_sharpe_is_the_tangency_portfolio_and_drops_losers() -> None:
    mu = np.array([0.08, 0.10, 0.14])
    inv = np.linalg.inv(COV3)
    ref = inv @ mu / (np.ones(3) @ inv @ mu)
    assert (ref > 0).all()
    np.testing.assert_allclose(max_sharpe_weights(mu, COV3), ref, atol=1e-7)
    # a negative mean: long-only, the grid's best Sharpe ratio
    mu = np.array([0.08, -0.05, 0.06])
    grid = _simplex_grid(3, 400)
    sharpe = grid @ mu / np.sqrt(np.einsum("ij,jk,ik->i", grid, COV3, grid))
    w = max_sharpe_weights(mu, COV3)
    assert w[1] == pytest.approx(0.0, abs=1e-8)
    assert w @ mu / np.sqrt(w @ COV3 @ w) >= sharpe.max() - 1e-9
    np.testing.assert_allclose(w, grid[np.argmax(sharpe)], atol=5e-3)
    # no positive mean: minimum variance
    np.testing.assert_allclose(max_sharpe_weights(-np.ones(3), COV3), min_variance_weights(COV3))


def test_risk_parity_is_inverse_volatility_when_uncorrelated_and_equalises_contributions() -> None:
    vol = np.array([0.1, 0.2, 0.4])
    ref = (1 / vol) / (1 / vol).sum()
    np.testing.assert_allclose(risk_parity_weights(np.diag(vol**2)), ref, atol=1e-8)
    w = risk_parity_weights(COV3)
    contrib = w * (COV3 @ w)
    np.testing.assert_allclose(contrib, np.full(3, contrib.mean()), rtol=1e-6)
    assert w.sum() == pytest.approx(1.0) and (w > 0).all()


def test_allocate_uses_the_sample_covariance_and_mean() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0.001, 0.01, (300, 4)) * np.array([1, 2, 3, 4])
    np.testing.assert_allclose(
        allocate("min_variance", r), min_variance_weights(np.cov(r, rowvar=False)), atol=1e-6
    )
    np.testing.assert_allclose(
        allocate("max_sharpe", r),
        max_sharpe_weights(r.mean(axis=0), np.cov(r, rowvar=False)),
        atol=1e-6,
    )
    with pytest.raises(ConfigError, match="unknown allocation"):
        allocate("kelly", r)


def test_trailing_weights_see_only_the_past_and_hold_between_estimates() -> None:
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (120, 3)), axis=0))
    w = trailing_weights(close, "risk_parity", lookback=40, every=5, start=50)
    assert np.isnan(w[:50]).all() and np.isfinite(w[50:]).all()
    np.testing.assert_allclose(w[50:].sum(axis=1), 1.0)
    np.testing.assert_array_equal(w[55], w[59])
    returns = close[16:56] / close[15:55] - 1
    np.testing.assert_allclose(w[55], allocate("risk_parity", returns), atol=1e-12)
    # changing prices after row 72 leaves every weight up to row 72 unchanged
    later = close.copy()
    later[73:] *= rng.uniform(0.5, 1.5, later[73:].shape)
    w2 = trailing_weights(later, "risk_parity", lookback=40, every=5, start=50)
    np.testing.assert_array_equal(w[:73], w2[:73])
    assert not np.allclose(w[75:], w2[75:])
    with pytest.raises(ConfigError, match="history"):
        trailing_weights(close, "min_variance", lookback=60, start=50)
