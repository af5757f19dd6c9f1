"""Deflated Sharpe ratio over real trials: TrialSet, the hand formula, summaries and backtests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from quantrl.backtest import run_weights
from quantrl.data import Panel
from quantrl.errors import ConfigError
from quantrl.stats import performance as perf
from quantrl.stats.performance import TrialSet

EULER_GAMMA = 0.5772156649015329


def _dsr_by_hand(sr: float, n: int, skew: float, kurt: float, trials: int, var: float) -> float:
    """Bailey & Lopez de Prado (2014), eq. for DSR with SR0 the expected max of N Sharpe ratios.

    SR0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)));
    DSR = Z((SR - SR0) * sqrt(n - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2)).
    """
    z = sps.norm
    sr0 = math.sqrt(var) * (
        (1 - EULER_GAMMA) * z.ppf(1 - 1 / trials) + EULER_GAMMA * z.ppf(1 - 1 / (trials * math.e))
    )
    return float(
        z.cdf((sr - sr0) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))
    )


@pytest.fixture
def returns() -> np.ndarray:
    """750 bars of fat-tailed daily returns with a positive drift."""
    rng = np.random.default_rng(21)
    return rng.standard_t(5, 750) * 0.008 + 0.0009


@pytest.fixture
def trial_returns() -> np.ndarray:
    """(750, 40) returns of 40 tried configurations with different drifts."""
    rng = np.random.default_rng(22)
    return rng.normal(rng.normal(0.0002, 0.0004, 40), 0.01, size=(750, 40))


def test_dsr_equals_the_hand_formula(returns, trial_returns):
    sharpes = trial_returns.mean(axis=0) / trial_returns.std(axis=0, ddof=1)
    trials = TrialSet.from_sharpes(sharpes)
    assert trials.n_trials == 40
    assert trials.sharpe_variance == pytest.approx(np.var(sharpes, ddof=1), rel=1e-12)
    sr = returns.mean() / returns.std(ddof=1)
    expected = _dsr_by_hand(
        sr,
        returns.size,
        sps.skew(returns),
        sps.kurtosis(returns, fisher=False),
        40,
        trials.sharpe_variance,
    )
    assert perf.deflated_sharpe_ratio(returns, trials) == pytest.approx(expected, rel=1e-9)
    # N and V given directly, and the trials built from their return series, agree
    assert perf.deflated_sharpe_ratio(
        returns, 40, sharpe_variance=trials.sharpe_variance
    ) == pytest.approx(expected, rel=1e-9)
    from_returns = TrialSet.from_returns(trial_returns)
    assert from_returns.n_trials == 40
    assert from_returns.sharpe_variance == pytest.approx(trials.sharpe_variance, rel=1e-10)


def test_dsr_falls_as_the_trial_count_grows(returns):
    dsr = [perf.deflated_sharpe_ratio(returns, TrialSet(n, 0.0009)) for n in (1, 2, 10, 100, 1000)]
    assert all(a > b for a, b in zip(dsr, dsr[1:], strict=False))
    # one trial: the probabilistic Sharpe ratio against 0
    assert dsr[0] == pytest.approx(perf.probabilistic_sharpe_ratio(returns), rel=1e-15)
    # and the trials' spread matters: more dispersed trials, higher bar
    wide = perf.deflated_sharpe_ratio(returns, TrialSet(100, 0.004))
    assert wide < dsr[3]


def test_several_trials_need_their_variance(returns):
    with pytest.raises(ConfigError, match="sharpe_variance"):
        TrialSet(5)
    with pytest.raises(ConfigError, match="sharpe_variance"):
        perf.deflated_sharpe_ratio(returns, 5)
    with pytest.raises(ConfigError, match="inside the TrialSet"):
        perf.deflated_sharpe_ratio(returns, TrialSet(5, 0.01), sharpe_variance=0.01)
    with pytest.raises(ConfigError, match="sharpe_variance"):
        TrialSet(3, -0.1)
    with pytest.raises(ConfigError, match="sharpe_variance"):
        TrialSet(3, math.nan)
    with pytest.raises(ConfigError, match="n_trials"):
        TrialSet(0)
    assert TrialSet() == TrialSet(1) and TrialSet().expected_max_sharpe == 0.0


def test_from_sharpes_counts_undefined_trials_but_not_in_the_variance():
    trials = TrialSet.from_sharpes([0.05, np.nan, 0.01, -0.02, np.inf])
    assert trials.n_trials == 5
    assert trials.sharpe_variance == pytest.approx(np.var([0.05, 0.01, -0.02], ddof=1))
    assert TrialSet.from_sharpes([0.3]) == TrialSet(1)
    with pytest.raises(ConfigError, match="at least 2"):
        TrialSet.from_sharpes([0.1, np.nan, np.nan])
    with pytest.raises(ConfigError, match="at least one"):
        TrialSet.from_sharpes([])


def test_summary_states_the_trial_count(returns):
    one = perf.summary_stats(returns)
    assert one["Trials (DSR)"] == 1.0
    assert one["Deflated Sharpe ratio"] == one["Probabilistic Sharpe ratio"]
    many = perf.summary_stats(returns, trials=TrialSet(25, 0.001))
    assert many["Trials (DSR)"] == 25.0
    assert many["Deflated Sharpe ratio"] == pytest.approx(
        perf.deflated_sharpe_ratio(returns, 25, sharpe_variance=0.001), rel=1e-15
    )
    assert (
        list(many.index).index("Trials (DSR)")
        == list(many.index).index("Deflated Sharpe ratio") + 1
    )
    table = perf.summary_stats(np.column_stack([returns, returns * 0.5]), trials=TrialSet(3, 0.01))
    assert list(table.loc["Trials (DSR)"]) == [3.0, 3.0]
    with pytest.raises(ConfigError, match="TrialSet"):
        perf.summary_stats(returns, trials=3)


def _panel() -> Panel:
    rng = np.random.default_rng(23)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0004, 0.01, (300, 3)), axis=0))
    dates = pd.bdate_range("2020-01-01", periods=300).to_numpy()
    return Panel(dates, ("A", "B", "C"), {"open": close, "close": close})


def test_backtest_stats_pass_the_trials_through():
    panel = _panel()
    res = run_weights(panel, np.full((300, 3), 1 / 3))
    base = res.stats()
    assert base["Trials (DSR)"] == 1.0
    assert res.stats(n_trials=1).equals(base)
    trials = TrialSet(12, 0.0005)
    deflated = res.stats(trials)
    assert deflated["Trials (DSR)"] == 12.0
    assert deflated["Deflated Sharpe ratio"] == pytest.approx(
        perf.deflated_sharpe_ratio(res.returns, trials), rel=1e-15
    )
    assert deflated["Deflated Sharpe ratio"] < base["Deflated Sharpe ratio"]
    with pytest.raises(ConfigError, match="n_trials=4"):
        res.stats(n_trials=4)
    with pytest.raises(ConfigError, match="not both"):
        res.stats(trials, n_trials=1)
