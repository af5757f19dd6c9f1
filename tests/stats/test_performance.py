"""quantrl.stats.performance: shapes, input checks, summary table, plain-loop references."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quantrl.errors import ConfigError, DataError
from quantrl.stats import performance as perf

UNARY = {
    "total_return": perf.total_return,
    "cagr": perf.cagr,
    "annual_volatility": perf.annual_volatility,
    "sharpe_ratio": perf.sharpe_ratio,
    "sortino_ratio": perf.sortino_ratio,
    "calmar_ratio": perf.calmar_ratio,
    "max_drawdown": perf.max_drawdown,
    "max_drawdown_duration": perf.max_drawdown_duration,
    "omega_ratio": perf.omega_ratio,
    "tail_ratio": perf.tail_ratio,
    "value_at_risk": perf.value_at_risk,
    "conditional_value_at_risk": perf.conditional_value_at_risk,
    "hit_rate": perf.hit_rate,
    "probabilistic_sharpe_ratio": perf.probabilistic_sharpe_ratio,
    "deflated_sharpe_ratio": lambda r: perf.deflated_sharpe_ratio(r, 5, sharpe_variance=0.002),
}


@pytest.fixture
def returns(rng: np.random.Generator) -> np.ndarray:
    """(300, 5) returns with a few NaNs."""
    r = rng.normal(0.0005, 0.011, size=(300, 5))
    r[rng.random(r.shape) < 0.04] = np.nan
    return r


# ----------------------------------------------------------------------------- plain references


def test_against_plain_numpy_loops(returns):
    """Sharpe, Sortino, volatility, total return, CAGR and max drawdown written as loops."""
    for k in range(returns.shape[1]):
        x = returns[:, k]
        v = x[~np.isnan(x)]
        n = len(v)
        mean = sum(v) / n
        sd = math.sqrt(sum((a - mean) ** 2 for a in v) / (n - 1))
        down = math.sqrt(sum(min(a, 0.0) ** 2 for a in v) / n)
        wealth, peak, mdd = 1.0, 1.0, 0.0
        for a in x:
            wealth *= 1.0 + (0.0 if math.isnan(a) else a)
            peak = max(peak, wealth)
            mdd = min(mdd, wealth / peak - 1.0)
        years = len(x) / 252
        assert perf.sharpe_ratio(x) == pytest.approx(mean / sd * math.sqrt(252), rel=1e-9)
        assert perf.sortino_ratio(x) == pytest.approx(mean / down * math.sqrt(252), rel=1e-9)
        assert perf.annual_volatility(x) == pytest.approx(sd * math.sqrt(252), rel=1e-9)
        assert perf.total_return(x) == pytest.approx(wealth - 1.0, rel=1e-9)
        assert perf.cagr(x) == pytest.approx(wealth ** (1 / years) - 1.0, rel=1e-9)
        assert perf.max_drawdown(x) == pytest.approx(mdd, rel=1e-9)
        assert perf.calmar_ratio(x) == pytest.approx((wealth ** (1 / years) - 1) / -mdd, rel=1e-9)


def test_quantiles_match_numpy_percentile(rng):
    r = rng.standard_t(3, size=(257, 4)) * 0.01
    r[::7, 1] = np.nan
    for k in range(r.shape[1]):
        v = r[:, k][~np.isnan(r[:, k])]
        for cutoff in (0.0, 0.01, 0.05, 0.25, 0.5, 0.99, 1.0):
            assert perf.value_at_risk(r[:, k], cutoff) == pytest.approx(
                np.percentile(v, 100 * cutoff), rel=1e-12
            )
            m = int((len(v) - 1) * cutoff) + 1
            assert perf.conditional_value_at_risk(r[:, k], cutoff) == pytest.approx(
                np.sort(v)[:m].mean(), rel=1e-12
            )


def test_quantiles_with_many_ties():
    r = np.array([0.0] * 50 + [0.01] * 50 + [-0.01] * 50)
    assert perf.value_at_risk(r, 0.05) == -0.01
    assert perf.value_at_risk(r, 0.5) == 0.0
    assert perf.conditional_value_at_risk(r, 0.5) == pytest.approx(np.sort(r)[:75].mean())


# ----------------------------------------------------------------------------- shapes and types


@pytest.mark.parametrize("name", list(UNARY))
def test_2d_equals_1d_per_column(name, returns):
    fn = UNARY[name]
    out = fn(returns)
    assert isinstance(out, np.ndarray) and out.shape == (returns.shape[1],)
    for k in range(returns.shape[1]):
        one = fn(returns[:, k])
        assert isinstance(one, float)
        np.testing.assert_allclose(one, out[k], rtol=1e-15, equal_nan=True)


@pytest.mark.parametrize("name", list(UNARY))
def test_pandas_and_fortran_order_inputs(name, returns):
    fn = UNARY[name]
    expected = fn(returns)
    frame = pd.DataFrame(returns)
    np.testing.assert_allclose(fn(frame), expected, rtol=1e-15, equal_nan=True)
    np.testing.assert_allclose(fn(np.asfortranarray(returns)), expected, rtol=1e-15, equal_nan=True)
    series = pd.Series(returns[:, 0])
    np.testing.assert_allclose(fn(series), expected[0], rtol=1e-15, equal_nan=True)
    assert fn(list(returns[:, 0])) == pytest.approx(expected[0], rel=1e-15, nan_ok=True)


def test_inputs_are_not_modified(returns):
    before = returns.copy()
    perf.summary_stats(returns, benchmark=returns[:, 0], trials=perf.TrialSet(3, 0.001))
    np.testing.assert_array_equal(returns, before)


# ----------------------------------------------------------------------------- input checks


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize(
    "bad",
    [np.zeros((3, 2, 2)), np.float64(0.01), np.array([]), np.zeros((0, 3)), np.zeros((5, 0))],
    ids=["3d", "scalar", "empty", "no_rows", "no_columns"],
)
def test_bad_shapes_raise_data_error(name, bad):
    with pytest.raises(DataError, match="returns"):
        UNARY[name](bad)


def test_non_numeric_raises_data_error():
    with pytest.raises(DataError, match="numeric"):
        perf.sharpe_ratio(np.array(["a", "b"]))


@pytest.mark.parametrize("ppy", [0, -252, float("nan"), float("inf"), True, "252", None])
@pytest.mark.parametrize(
    "fn",
    [
        perf.cagr,
        perf.annual_volatility,
        lambda r, ppy: perf.sharpe_ratio(r, periods_per_year=ppy),
        lambda r, ppy: perf.sortino_ratio(r, periods_per_year=ppy),
        perf.calmar_ratio,
        lambda r, ppy: perf.omega_ratio(r, periods_per_year=ppy),
        lambda r, ppy: perf.alpha_beta(r, r, periods_per_year=ppy),
        lambda r, ppy: perf.summary_stats(r, periods_per_year=ppy),
    ],
)
def test_bad_periods_per_year_raise_config_error(fn, ppy, returns):
    with pytest.raises(ConfigError, match="periods_per_year"):
        fn(returns[:, 0], ppy)


def test_benchmark_shape_checks(returns):
    with pytest.raises(DataError, match="benchmark has 299 rows but returns have 300"):
        perf.alpha_beta(returns, returns[1:, 0])
    with pytest.raises(DataError, match="benchmark must have 1 or 5 columns"):
        perf.alpha_beta(returns, returns[:, :2])
    with pytest.raises(DataError, match="benchmark is empty"):
        perf.alpha_beta(returns[:, 0], np.array([]))
    with pytest.raises(DataError, match="benchmark has"):
        perf.summary_stats(returns[:, 0], benchmark=returns[:-5, 1])


@pytest.mark.parametrize("cutoff", [-0.1, 1.5, float("nan"), "x"])
def test_bad_cutoff_raises(cutoff, returns):
    with pytest.raises(ConfigError, match="cutoff"):
        perf.value_at_risk(returns, cutoff)
    with pytest.raises(ConfigError, match="cutoff"):
        perf.conditional_value_at_risk(returns, cutoff)


def test_bad_scalar_arguments_raise(returns):
    with pytest.raises(ConfigError, match="risk_free"):
        perf.sharpe_ratio(returns, risk_free=float("nan"))
    with pytest.raises(ConfigError, match="required_return"):
        perf.sortino_ratio(returns, required_return="a")
    with pytest.raises(ConfigError, match="required_return must be > -1"):
        perf.omega_ratio(returns, required_return=-1.0)
    with pytest.raises(ConfigError, match="benchmark_sharpe"):
        perf.probabilistic_sharpe_ratio(returns, benchmark_sharpe=float("inf"))


@pytest.mark.parametrize("n_trials", [0, -3, 2.5, True, "10"])
def test_bad_n_trials_raise(n_trials, returns):
    with pytest.raises(ConfigError, match="n_trials"):
        perf.deflated_sharpe_ratio(returns, n_trials)
    with pytest.raises(ConfigError, match="n_trials"):
        perf.TrialSet(n_trials, 0.01)


def test_negative_sharpe_variance_raises(returns):
    with pytest.raises(ConfigError, match="sharpe_variance"):
        perf.deflated_sharpe_ratio(returns, 10, sharpe_variance=-0.1)
    with pytest.raises(ConfigError, match="sharpe_variance"):
        perf.expected_max_sharpe(10, -1.0)


def test_weights_checks(returns):
    with pytest.raises(ConfigError, match="sequence of 5"):
        perf.summary_stats(returns, weights=np.ones((300, 3)))
    with pytest.raises(DataError, match="weights have 10 rows but returns have 300"):
        perf.summary_stats(returns[:, 0], weights=np.ones((10, 3)))
    with pytest.raises(DataError, match="weights"):
        perf.turnover(np.ones((3, 2, 2)))


# ------------------------------------------------------------------------- documented conventions


def test_nan_conventions():
    r = np.array([0.1, np.nan, -0.05, np.nan])
    # compounding: NaN is a flat bar, time still passes
    assert perf.total_return(r) == pytest.approx(1.1 * 0.95 - 1)
    assert perf.cagr(r, periods_per_year=4) == pytest.approx(1.1 * 0.95 - 1)
    # moments: NaN bars dropped
    assert perf.annual_volatility(r, periods_per_year=1) == pytest.approx(
        np.std([0.1, -0.05], ddof=1)
    )
    # an all-NaN series has no return and no drawdown, and undefined moments
    empty = np.full(5, np.nan)
    assert perf.total_return(empty) == 0.0
    assert perf.max_drawdown(empty) == 0.0
    assert math.isnan(perf.sharpe_ratio(empty))
    assert math.isnan(perf.value_at_risk(empty))


def test_sign_conventions():
    up = np.full(10, 0.01)
    assert perf.sharpe_ratio(up) == math.inf
    assert perf.sortino_ratio(up) == math.inf
    assert perf.max_drawdown(up) == 0.0
    assert math.isnan(perf.calmar_ratio(up))
    assert perf.annual_volatility(up) == 0.0
    assert perf.sharpe_ratio(-up) == -math.inf
    assert math.isnan(perf.sharpe_ratio(np.zeros(10)))
    assert perf.max_drawdown(np.array([0.1, -0.5])) == pytest.approx(-0.5)


def test_psr_is_a_probability_and_monotone(returns):
    psr = perf.probabilistic_sharpe_ratio(returns)
    assert np.all((psr >= 0) & (psr <= 1))
    low = perf.probabilistic_sharpe_ratio(returns[:, 0], benchmark_sharpe=-0.05)
    high = perf.probabilistic_sharpe_ratio(returns[:, 0], benchmark_sharpe=0.05)
    assert low > perf.probabilistic_sharpe_ratio(returns[:, 0]) > high
    assert math.isnan(perf.probabilistic_sharpe_ratio(np.full(10, 0.01)))
    assert math.isnan(perf.probabilistic_sharpe_ratio(np.array([0.01])))


def test_expected_max_sharpe():
    assert perf.expected_max_sharpe(1, 0.5) == 0.0
    e = perf.expected_max_sharpe(np.int64(100), np.array([0.01, 0.04]))
    assert e.shape == (2,)
    assert e[1] == pytest.approx(2 * e[0])
    # grows with the number of trials
    assert perf.expected_max_sharpe(1000, 0.01) > perf.expected_max_sharpe(10, 0.01) > 0


# ----------------------------------------------------------------------------- summary table


def test_summary_stats_1d(returns):
    x = pd.Series(returns[:, 0], name="strategy")
    bench = returns[:, 1]
    weights = np.random.default_rng(3).dirichlet(np.ones(4), size=300)
    table = perf.summary_stats(x, benchmark=bench, weights=weights, trials=perf.TrialSet(7, 0.0004))
    assert isinstance(table, pd.Series)
    assert table.name == "strategy"
    expected = {
        "Periods": 300.0,
        "Total return": perf.total_return(x),
        "CAGR": perf.cagr(x),
        "Annual volatility": perf.annual_volatility(x),
        "Sharpe ratio": perf.sharpe_ratio(x),
        "Sortino ratio": perf.sortino_ratio(x),
        "Calmar ratio": perf.calmar_ratio(x),
        "Max drawdown": perf.max_drawdown(x),
        "Max drawdown duration (bars)": perf.max_drawdown_duration(x),
        "Omega ratio": perf.omega_ratio(x),
        "Tail ratio": perf.tail_ratio(x),
        "Value at risk (5%)": perf.value_at_risk(x),
        "Conditional value at risk (5%)": perf.conditional_value_at_risk(x),
        "Hit rate": perf.hit_rate(x),
        "Probabilistic Sharpe ratio": perf.probabilistic_sharpe_ratio(x),
        "Deflated Sharpe ratio": perf.deflated_sharpe_ratio(x, 7, sharpe_variance=0.0004),
        "Trials (DSR)": 7.0,
        "Alpha": perf.alpha_beta(x, bench)[0],
        "Beta": perf.alpha_beta(x, bench)[1],
        "Turnover": perf.turnover(weights),
    }
    assert list(table.index) == list(expected)
    np.testing.assert_allclose(table.to_numpy(), list(expected.values()), rtol=1e-15)


def test_summary_stats_2d(returns):
    frame = pd.DataFrame(returns, columns=list("abcde"))
    weights = [np.full((300, 2), 0.5)] * 4 + [np.eye(2)[np.arange(300) % 2]]
    table = perf.summary_stats(frame, periods_per_year=52, weights=weights)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == list("abcde")
    assert "Alpha" not in table.index
    np.testing.assert_allclose(
        table.loc["Sharpe ratio"], perf.sharpe_ratio(returns, periods_per_year=52)
    )
    np.testing.assert_allclose(table.loc["CAGR"], perf.cagr(returns, 52))
    np.testing.assert_allclose(table.loc["Turnover"], [0, 0, 0, 0, 1.0])
    plain = perf.summary_stats(returns)
    assert list(plain.columns) == list(range(5))
    assert "Turnover" not in plain.index
