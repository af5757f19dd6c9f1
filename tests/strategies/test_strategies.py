"""Classic strategies: no look-ahead for each, and hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import quantrl
from quantrl import ConfigError, Panel
from quantrl.backtest import run_weights
from strategies import REGISTRY, get_strategy
from strategies.max_sharpe import max_sharpe_weights
from strategies.min_variance import min_variance_weights
from strategies.risk_parity import risk_parity_weights

FAST_PARAMS = {
    "equal_weight": {"every": 5},
    "min_variance": {"window": 30, "every": 10},
    "max_sharpe": {"window": 30, "every": 10},
    "risk_parity": {"window": 30, "every": 10},
    "momentum": {"lookback": 60, "skip": 5, "every": 10, "quantile": 0.3},
    "ma_crossover": {"fast": 5, "slow": 20},
    "bollinger": {"window": 10, "k": 1.0},
    "alpha_factor": {"formula": "Corr($close, $volume, 10)", "every": 3},
}


@pytest.fixture(scope="module")
def small_panel() -> Panel:
    return quantrl.load_market(
        "dow30",
        start="2018-01-01",
        end="2019-06-30",
        symbols=["AAPL", "MSFT", "KO", "JPM", "CVX", "WMT", "IBM", "MRK"],
    )


def perturb_after(panel: Panel, t: int, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    fields = {}
    for name, values in panel.fields.items():
        v = values.copy()
        v[t + 1 :] *= rng.uniform(0.5, 1.5, v[t + 1 :].shape)
        fields[name] = v
    return panel.replace(fields=fields)


@pytest.mark.parametrize("name", sorted(FAST_PARAMS))
def test_no_look_ahead(small_panel, name):
    assert set(FAST_PARAMS) == set(REGISTRY) - {"buy_and_hold"}
    strategy = get_strategy(name, **FAST_PARAMS[name])
    base = strategy.target_weights(small_panel)
    assert base.shape == small_panel.shape
    assert np.isfinite(base).any(), "the strategy never trades on this panel"
    for t in (150, 250):
        moved = strategy.target_weights(perturb_after(small_panel, t))
        np.testing.assert_array_equal(moved[: t + 1], base[: t + 1])
        assert not np.array_equal(moved, base, equal_nan=True) or name == "equal_weight"


def test_buy_and_hold_no_look_ahead_and_drift(small_panel):
    w = get_strategy("buy_and_hold").target_weights(small_panel)
    np.testing.assert_array_equal(w[0], np.full(8, 1 / 8))
    assert np.isnan(w[1:]).all()
    res = run_weights(small_panel, w, fees=0.0, execution="next_close")
    close = small_panel["close"]
    # bought at the close of row 1 and never traded again: weights drift with prices
    expected = (close[1:] / close[1]) / (close[1:] / close[1]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(res.weights[1:], expected, rtol=1e-9)


def test_equal_weight_rows(small_panel):
    w = get_strategy("equal_weight", every=7).target_weights(small_panel)
    rows = np.flatnonzero(np.isfinite(w).all(axis=1))
    np.testing.assert_array_equal(rows, np.arange(0, small_panel.n_dates, 7))
    np.testing.assert_allclose(w[rows], 1 / 8)


def test_optimisers_on_diagonal_covariance():
    var = np.array([0.01, 0.04, 0.09])
    cov = np.diag(var)
    np.testing.assert_allclose(min_variance_weights(cov), (1 / var) / (1 / var).sum(), atol=1e-7)
    vol = np.sqrt(var)
    np.testing.assert_allclose(risk_parity_weights(cov), (1 / vol) / (1 / vol).sum(), atol=1e-8)
    mu = np.array([0.01, 0.02, 0.015])
    np.testing.assert_allclose(
        max_sharpe_weights(mu, cov), (mu / var) / (mu / var).sum(), atol=1e-5
    )


def test_risk_parity_equalises_contributions(rng):
    a = rng.normal(size=(200, 5))
    cov = np.cov(a @ rng.normal(size=(5, 5)), rowvar=False)
    w = risk_parity_weights(cov)
    contrib = w * (cov @ w)
    np.testing.assert_allclose(contrib, contrib.mean(), rtol=1e-6)


def _panel_from_close(close: np.ndarray) -> Panel:
    dates = pd.bdate_range("2020-01-01", periods=close.shape[0]).values
    return Panel(dates, tuple(f"S{i}" for i in range(close.shape[1])), {"close": close})


def test_momentum_picks_the_winner():
    t = 80
    close = np.ones((t, 4)) * 100
    close[:, 2] = np.linspace(100, 200, t)  # steady winner
    close[:, 0] = np.linspace(100, 50, t)  # loser
    w = get_strategy(
        "momentum", lookback=40, skip=5, every=20, quantile=0.25, long_short=True
    ).target_weights(_panel_from_close(close))
    np.testing.assert_array_equal(w[40], [-0.5, 0, 0.5, 0])
    assert np.isnan(w[41]).all()


def test_ma_crossover_hand_case():
    up = np.concatenate([np.full(10, 100.0), np.linspace(100, 120, 10), np.linspace(120, 90, 10)])
    close = np.stack([up, np.full(30, 50.0)], axis=1)
    w = get_strategy("ma_crossover", fast=2, slow=5).target_weights(_panel_from_close(close))
    assert np.isnan(w[:4]).all()  # slow average not ready
    np.testing.assert_array_equal(w[4], [0.0, 0.0])  # flat prices: fast == slow, not above
    long_rows = np.flatnonzero(w[:, 0] == 0.5)
    flat_rows = np.flatnonzero(w[5:, 0] == 0.0) + 5
    assert long_rows[0] == 11  # row 10 repeats 100; row 11 (102.2) lifts the 2-bar mean above
    assert flat_rows[0] > long_rows[0] and flat_rows[0] >= 20  # exits once prices fall


def test_bollinger_enters_below_band_and_exits_at_mean():
    close = np.array([100.0] * 5 + [100, 101, 99, 100, 90, 95, 100.5, 101, 100])[:, None]
    w = get_strategy("bollinger", window=5, k=1.0).target_weights(_panel_from_close(close))
    assert w[9, 0] == 1.0  # 90 is far below the band
    exit_row = int(np.flatnonzero(w[10:, 0] == 0.0)[0]) + 10
    mean = pd.Series(close[:, 0]).rolling(5).mean().to_numpy()
    assert close[exit_row, 0] >= mean[exit_row] and close[exit_row - 1, 0] < mean[exit_row - 1]


def test_alpha_factor_long_short_is_dollar_neutral(small_panel):
    w = get_strategy("alpha_factor", formula="-Delta($close, 5)", every=5).target_weights(
        small_panel
    )
    rows = np.flatnonzero(np.isfinite(w).all(axis=1))
    assert rows.size > 10
    np.testing.assert_allclose(w[rows].sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(w[rows]).sum(axis=1), 1.0)


def test_unknown_strategy_and_bad_params():
    with pytest.raises(ConfigError, match="unknown strategy"):
        get_strategy("magic")
    with pytest.raises(ConfigError):
        get_strategy("ma_crossover", fast=50, slow=20)
    with pytest.raises(ConfigError):
        get_strategy("equal_weight", nonsense=1)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_declared_lookback_is_the_history_before_the_first_decision(small_panel, name):
    strategy = get_strategy(name, **FAST_PARAMS.get(name, {}))
    w = strategy.target_weights(small_panel)
    first = int(np.flatnonzero(np.isfinite(w).any(axis=1))[0])
    lookback = strategy.lookback
    assert isinstance(lookback, int) and lookback >= 0
    expected = {
        "equal_weight": (0, 0),  # (declared lookback, first decision row) from the parameters
        "buy_and_hold": (0, 0),
        "momentum": (60, 60),
        "min_variance": (30, 30),
        "max_sharpe": (30, 30),
        "risk_parity": (30, 30),
        "ma_crossover": (20, 19),  # Mean over 20 bars is ready on row 19
        "alpha_factor": (9, 9),  # Corr over 10 bars reads 9 rows back; decides every 3 rows
    }
    if name == "bollinger":  # decides only on band crossings; the bands need `window` bars
        assert lookback == 10 and first >= 9
        return
    assert (lookback, first) == expected[name]
    assert first <= lookback + FAST_PARAMS.get(name, {}).get("every", 1) - 1
