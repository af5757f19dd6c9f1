"""Performance statistics against empyrical-reloaded, and hand computations where it has none."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats as sps

from quantrl.errors import ConfigError
from quantrl.stats import performance as perf

ep = pytest.importorskip("empyrical")

RTOL = 1e-9
PPY = 252


def _quiet(fn, *args, **kwargs):
    """Call an empyrical function with its divide/NaN warnings silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def assert_same(ours, theirs, rtol: float = RTOL, atol: float = 0.0) -> None:
    """Equal NaN pattern, equal infinities, finite values within rtol (and atol)."""
    ours = np.atleast_1d(np.asarray(ours, dtype=np.float64))
    theirs = np.atleast_1d(np.asarray(theirs, dtype=np.float64))
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(theirs))
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(theirs))
    fin = np.isfinite(theirs)
    np.testing.assert_allclose(ours[fin], theirs[fin], rtol=rtol, atol=atol)


def _drop_nan(x: np.ndarray) -> np.ndarray:
    return x[~np.isnan(x)]


def _random_returns(seed: int, n_rows: int = 260, n_cols: int = 6, nan_share: float = 0.05):
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0004, 0.012, size=(n_rows, n_cols))
    r[rng.random(r.shape) < nan_share] = np.nan
    r[:3, 1] = np.nan  # leading gap
    r[-2:, 2] = np.nan  # trailing gap
    return r


# (name, quantrl call, empyrical call on one 1-D series)
UNARY = [
    ("total_return", perf.total_return, ep.cum_returns_final),
    ("cagr", perf.cagr, ep.annual_return),
    ("annual_volatility", perf.annual_volatility, ep.annual_volatility),
    ("sharpe", perf.sharpe_ratio, ep.sharpe_ratio),
    ("sharpe_rf", lambda r: perf.sharpe_ratio(r, 0.0001), lambda r: ep.sharpe_ratio(r, 0.0001)),
    ("sortino", perf.sortino_ratio, ep.sortino_ratio),
    (
        "sortino_req",
        lambda r: perf.sortino_ratio(r, required_return=0.0003),
        lambda r: ep.sortino_ratio(r, required_return=0.0003),
    ),
    ("calmar", perf.calmar_ratio, ep.calmar_ratio),
    ("max_drawdown", perf.max_drawdown, ep.max_drawdown),
    ("omega", perf.omega_ratio, ep.omega_ratio),
    (
        "omega_args",
        lambda r: perf.omega_ratio(r, risk_free=0.0001, required_return=0.08),
        lambda r: ep.omega_ratio(r, risk_free=0.0001, required_return=0.08),
    ),
    ("tail_ratio", perf.tail_ratio, ep.tail_ratio),
    # empyrical's VaR returns NaN when a NaN is present; quantrl drops NaNs like CVaR does
    ("value_at_risk", perf.value_at_risk, lambda r: ep.value_at_risk(_drop_nan(r))),
    (
        "value_at_risk_10",
        lambda r: perf.value_at_risk(r, cutoff=0.1),
        lambda r: ep.value_at_risk(_drop_nan(r), cutoff=0.1),
    ),
    ("cvar", perf.conditional_value_at_risk, ep.conditional_value_at_risk),
    (
        "cvar_10",
        lambda r: perf.conditional_value_at_risk(r, cutoff=0.1),
        lambda r: ep.conditional_value_at_risk(r, cutoff=0.1),
    ),
]
IDS = [u[0] for u in UNARY]
# annual volatility of a constant series is exactly 0 in quantrl, a ~1e-17 residue in empyrical
ATOL = {"annual_volatility": 1e-15}


@pytest.mark.parametrize(("name", "ours", "theirs"), UNARY, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unary_1d_random(name, ours, theirs, seed):
    r = _random_returns(seed)
    for k in range(r.shape[1]):
        col = r[:, k].copy()
        result = ours(col)
        assert isinstance(result, float)
        assert_same(result, _quiet(theirs, col))


@pytest.mark.parametrize(("name", "ours", "theirs"), UNARY, ids=IDS)
def test_unary_2d_random_per_column(name, ours, theirs):
    r = _random_returns(7, n_rows=300, n_cols=9)
    r[:, 4] = np.nan  # a series with no data at all
    expected = [_quiet(theirs, r[:, k].copy()) for k in range(r.shape[1])]
    result = ours(r)
    assert result.shape == (r.shape[1],)
    assert_same(result, expected, atol=ATOL.get(name, 0.0))


# empyrical's own vectorised 2-D calls
VECTORISED = [
    ("total_return", perf.total_return, ep.cum_returns_final),
    ("cagr", perf.cagr, ep.annual_return),
    ("annual_volatility", perf.annual_volatility, ep.annual_volatility),
    ("sharpe", perf.sharpe_ratio, ep.sharpe_ratio),
    ("sortino", perf.sortino_ratio, ep.sortino_ratio),
    ("max_drawdown", perf.max_drawdown, ep.max_drawdown),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), VECTORISED, ids=[v[0] for v in VECTORISED])
def test_vectorised_2d_matches_empyrical_2d(name, ours, theirs):
    r = _random_returns(11, n_rows=500, n_cols=12, nan_share=0.1)
    assert_same(ours(r), _quiet(theirs, r))


def test_periods_per_year_matches_annualization():
    r = _random_returns(3)
    for ppy in (12, 52, 365.25):
        assert_same(perf.cagr(r, ppy), _quiet(ep.annual_return, r, annualization=ppy))
        assert_same(
            perf.sharpe_ratio(r, periods_per_year=ppy), ep.sharpe_ratio(r, annualization=ppy)
        )
        assert_same(
            perf.sortino_ratio(r, periods_per_year=ppy), ep.sortino_ratio(r, annualization=ppy)
        )
        assert_same(perf.annual_volatility(r, ppy), ep.annual_volatility(r, annualization=ppy))
        for k in range(r.shape[1]):
            col = r[:, k].copy()
            assert_same(
                perf.calmar_ratio(col, ppy), _quiet(ep.calmar_ratio, col, annualization=ppy)
            )
            assert_same(
                perf.omega_ratio(col, required_return=0.05, periods_per_year=ppy),
                ep.omega_ratio(col, required_return=0.05, annualization=ppy),
            )


EDGE_CASES = {
    "all_positive": np.array([0.01, 0.02, 0.005, 0.03, 0.001, 0.012]),
    "all_negative": np.array([-0.01, -0.02, -0.005, -0.03]),
    "constant_positive": np.full(20, 0.01),
    "constant_negative": np.full(15, -0.003),
    "constant_zero": np.zeros(10),
    "single_bar": np.array([0.02]),
    "single_loss": np.array([-0.02]),
    "two_bars": np.array([0.02, 0.03]),
    "three_bars": np.array([-0.02, 0.01, 0.0]),
    "one_value_and_nan": np.array([0.01, np.nan]),
    "all_nan": np.array([np.nan, np.nan, np.nan]),
    "with_total_loss": np.array([0.05, -1.0, 0.0, 0.1]),
    "large_moves": np.array([0.5, -0.4, 0.3, -0.2, 0.9, -0.6]),
    "one_ulp_apart": np.array([0.01] * 5 + [np.nextafter(0.01, 1.0)]),
    "constant_with_nan": np.array([0.02, np.nan, 0.02, 0.02, np.nan]),
}


@pytest.mark.parametrize(("name", "ours", "theirs"), UNARY, ids=IDS)
@pytest.mark.parametrize("case", list(EDGE_CASES), ids=list(EDGE_CASES))
def test_unary_edge_cases(name, ours, theirs, case):
    r = EDGE_CASES[case].copy()
    assert_same(ours(r), _quiet(theirs, r.copy()), atol=ATOL.get(name, 0.0))


def test_alpha_beta_1d_and_2d():
    r = _random_returns(5, n_rows=400, n_cols=5)
    rng = np.random.default_rng(99)
    bench = rng.normal(0.0003, 0.01, size=r.shape[0])
    bench[rng.random(bench.shape) < 0.05] = np.nan
    r[:, 0] = 1.3 * np.nan_to_num(bench) + r[:, 0] * 0.2  # a strongly exposed series
    for rf in (0.0, 0.0001):
        for ppy in (252, 12):
            alpha, beta = perf.alpha_beta(r, bench, risk_free=rf, periods_per_year=ppy)
            tiled = np.tile(bench[:, None], (1, r.shape[1]))
            expected = _quiet(ep.alpha_beta, r, tiled, risk_free=rf, annualization=ppy)
            assert_same(alpha, expected[:, 0])
            assert_same(beta, expected[:, 1])
            # a (T, K) benchmark gives the same answer
            a2, b2 = perf.alpha_beta(r, tiled, risk_free=rf, periods_per_year=ppy)
            assert_same(a2, alpha)
            assert_same(b2, beta)
            for k in range(r.shape[1]):
                a1, b1 = perf.alpha_beta(r[:, k], bench, risk_free=rf, periods_per_year=ppy)
                e = _quiet(ep.alpha_beta, r[:, k].copy(), bench, risk_free=rf, annualization=ppy)
                assert isinstance(a1, float) and isinstance(b1, float)
                assert_same(a1, e[0])
                assert_same(b1, e[1])


@pytest.mark.parametrize("case", list(EDGE_CASES), ids=list(EDGE_CASES))
def test_alpha_beta_edge_cases(case):
    r = EDGE_CASES[case]
    bench = np.linspace(-0.01, 0.02, r.shape[0])
    a, b = perf.alpha_beta(r, bench)
    e = _quiet(ep.alpha_beta, r.copy(), bench)
    assert_same(a, e[0])
    assert_same(b, e[1])


def test_alpha_beta_hand_case():
    rng = np.random.default_rng(4)
    bench = rng.normal(0.0, 0.01, 250)
    r = 0.0005 + 1.7 * bench
    alpha, beta = perf.alpha_beta(r, bench)
    assert beta == pytest.approx(1.7, rel=1e-12)
    assert alpha == pytest.approx(1.0005**252 - 1.0, rel=1e-9)


# ----------------------------------------------------------------------------- no empyrical peer


def _reference_drawdown_duration(r: np.ndarray) -> float:
    """Longest run below the running peak, found run by run on the anchored wealth path."""
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + np.nan_to_num(r))])
    below = wealth < np.maximum.accumulate(wealth)
    best = 0
    i = 0
    n = len(wealth)
    while i < n:
        if not below[i]:
            i += 1
            continue
        start = i
        while i < n and below[i]:
            i += 1
        peak = start - 1
        end = i if i < n else n - 1  # recovery bar, or the last bar
        best = max(best, end - peak)
    return float(best)


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        ([0.1, -0.1, 0.05, 0.1], 3.0),  # peak bar 0, recovered at bar 3
        ([-0.1, 0.2], 2.0),  # peak is the starting wealth (bar -1), recovered at bar 1
        ([-0.1], 1.0),  # never recovered: starting wealth to the last bar
        ([0.01, 0.02, 0.03], 0.0),  # never below the peak
        ([0.1, -0.05, -0.05], 2.0),  # peak bar 0, still down at the last bar 2
        ([0.1, -0.1, 0.2, -0.01, -0.01, -0.01, 0.1], 4.0),  # second drawdown is longer
        ([0.1, np.nan, -0.1, np.nan, 0.5], 3.0),  # flat NaN bar 1 is the last bar at the peak
        ([0.0, -0.5, 1.0, 0.0], 2.0),  # back exactly at the peak counts as recovery
        ([np.nan, np.nan], 0.0),
    ],
)
def test_max_drawdown_duration_hand_cases(returns, expected):
    r = np.array(returns, dtype=float)
    assert perf.max_drawdown_duration(r) == expected
    assert _reference_drawdown_duration(r) == expected


def test_max_drawdown_duration_matches_reference_loop():
    r = _random_returns(21, n_rows=400, n_cols=10, nan_share=0.1)
    expected = [_reference_drawdown_duration(r[:, k]) for k in range(r.shape[1])]
    np.testing.assert_array_equal(perf.max_drawdown_duration(r), expected)


def test_hit_rate_hand_case():
    r = np.array([0.1, -0.2, 0.0, np.nan, 0.3, 0.05, -0.01])
    assert perf.hit_rate(r) == pytest.approx(3 / 5, rel=1e-15)
    assert math.isnan(perf.hit_rate(np.array([0.0, np.nan, 0.0])))
    two = np.column_stack([r, -r])
    np.testing.assert_allclose(perf.hit_rate(two), [3 / 5, 2 / 5], rtol=1e-15)


def test_turnover_hand_case():
    w = np.array([[0.5, 0.5], [0.6, 0.4], [0.6, 0.4], [0.0, 1.0]])
    # bar 1: (0.1 + 0.1) / 2 = 0.1; bar 2: 0; bar 3: (0.6 + 0.6) / 2 = 0.6 -> mean 0.7 / 3
    assert perf.turnover(w) == pytest.approx(0.7 / 3, rel=1e-12)
    assert perf.turnover(np.array([0.2, 0.5, 0.1])) == pytest.approx((0.3 + 0.4) / 2 / 2, rel=1e-12)
    # NaN weight = no position
    w_nan = np.array([[0.5, np.nan], [0.5, 0.5]])
    assert perf.turnover(w_nan) == pytest.approx(0.25, rel=1e-12)
    assert math.isnan(perf.turnover(np.array([[0.5, 0.5]])))


def _psr_by_hand(x: np.ndarray, sr_star: float) -> float:
    """PSR written out with scipy.stats on the non-NaN values."""
    x = x[~np.isnan(x)]
    n = len(x)
    sr = x.mean() / x.std(ddof=1)
    g3 = sps.skew(x)
    g4 = sps.kurtosis(x, fisher=False)
    z = (sr - sr_star) * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return float(sps.norm.cdf(z))


def test_probabilistic_sharpe_ratio_hand_case():
    r = _random_returns(8, n_rows=500, n_cols=4)
    r[:, 2] = np.random.default_rng(1).standard_t(4, 500) * 0.01 + 0.0008  # fat tails
    for bench in (0.0, 0.02, -0.01):
        expected = [_psr_by_hand(r[:, k], bench) for k in range(r.shape[1])]
        assert_same(perf.probabilistic_sharpe_ratio(r, benchmark_sharpe=bench), expected)
        assert perf.probabilistic_sharpe_ratio(r[:, 0], bench) == pytest.approx(
            expected[0], rel=RTOL
        )


def test_probabilistic_sharpe_ratio_small_hand_case():
    x = np.array([0.02, -0.01, 0.03, 0.0, 0.01, -0.02, 0.04])
    mean = x.mean()
    sd = math.sqrt(((x - mean) ** 2).sum() / 6)
    m2 = ((x - mean) ** 2).mean()
    g3 = ((x - mean) ** 3).mean() / m2**1.5
    g4 = ((x - mean) ** 4).mean() / m2**2
    sr = mean / sd
    z = sr * math.sqrt(6) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr * sr)
    expected = 0.5 * math.erfc(-z / math.sqrt(2))
    assert perf.probabilistic_sharpe_ratio(x) == pytest.approx(expected, rel=1e-12)


def test_deflated_sharpe_ratio_hand_case():
    r = _random_returns(9, n_rows=750, n_cols=3, nan_share=0.02)
    gamma = 0.5772156649015329
    for n_trials in (2, 10, 100):
        for var in (0.001, 0.0004):
            z = (1 - gamma) * sps.norm.ppf(1 - 1 / n_trials) + gamma * sps.norm.ppf(
                1 - 1 / (n_trials * math.e)
            )
            sr0 = math.sqrt(var) * z
            assert perf.expected_max_sharpe(n_trials, var) == pytest.approx(sr0, rel=1e-12)
            expected = [_psr_by_hand(r[:, k], sr0) for k in range(r.shape[1])]
            assert_same(perf.deflated_sharpe_ratio(r, n_trials, sharpe_variance=var), expected)


def test_deflated_sharpe_ratio_one_trial_and_trial_variance():
    x = _random_returns(10, n_rows=600, n_cols=3)[:, 1]
    # one trial: nothing to deflate
    assert perf.deflated_sharpe_ratio(x, 1) == pytest.approx(
        perf.probabilistic_sharpe_ratio(x), rel=1e-15
    )
    # several trials: the variance must come from the trials' Sharpe ratios
    with pytest.raises(ConfigError, match="sharpe_variance"):
        perf.deflated_sharpe_ratio(x, 20)
    # more trials, higher bar
    assert perf.deflated_sharpe_ratio(x, 1000, 0.001) < perf.deflated_sharpe_ratio(x, 20, 0.001)


# ----------------------------------------------------------------------------- property-based


_RETURN = st.one_of(
    st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, allow_subnormal=False),
    st.just(np.nan),
    st.just(0.0),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays(np.float64, st.integers(1, 40), elements=_RETURN))
@example(np.array([-6.11358548e-12, -6.11358548e-12, *[0.0] * 11]))
def test_property_parity_on_arbitrary_series(r):
    for name, ours, theirs in UNARY:
        if name == "sharpe_rf":  # risk-free shifts make near-constant series ill-conditioned
            continue
        expected = _quiet(theirs, r.copy())
        result = ours(r)
        v = r[~np.isnan(r)]
        spread = np.ptp(v) if len(v) > 1 else np.nan
        if name == "annual_volatility" and spread == 0:
            assert result == 0.0  # empyrical leaves a rounding residue here
            continue
        if name in ("annual_volatility", "sharpe", "sortino", "sortino_req") and 0 < spread < 1e-9:
            continue  # near-constant series: both sides divide rounding noise
        rtol = RTOL
        if name in ("cagr", "calmar"):
            # both sides take growth^(ppy / n) - 1: a growth within rounding of 1 cancels, and the
            # relative error is a few ulps of 1 over |growth - 1| (r = -6e-12 twice: 5e-7)
            growth = float(np.prod(1.0 + v)) if len(v) else 1.0
            if growth != 1.0:
                rtol = max(RTOL, 64 * np.finfo(float).eps / abs(growth - 1.0))
        assert_same(result, expected, rtol=rtol)
