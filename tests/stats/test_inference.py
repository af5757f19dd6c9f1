"""quantrl.stats.inference against statsmodels, scipy, hand formulas and simulations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from quantrl.errors import ConfigError, DataError
from quantrl.stats import inference as inf
from quantrl.stats.performance import sharpe_ratio


def _bartlett_se(x: np.ndarray, lags: int) -> float:
    """Newey-West standard error of the mean written out: Bartlett-weighted autocovariances."""
    n = len(x)
    e = x - x.mean()
    s = sum(e * e) / n
    for lag in range(1, lags + 1):
        gamma = sum(e[lag:] * e[:-lag]) / n
        s += 2.0 * (1.0 - lag / (lags + 1.0)) * gamma
    return math.sqrt(s / n)


def _overlapping_sums(rng: np.random.Generator, n: int, horizon: int) -> np.ndarray:
    """n overlapping ``horizon``-bar sums of iid standard normal noise (mean 0)."""
    return np.convolve(rng.normal(size=n + horizon - 1), np.ones(horizon), "valid")


# ----------------------------------------------------------------------------- Newey-West


@pytest.mark.parametrize("lags", [None, 0, 3, 12])
def test_newey_west_t_equals_statsmodels_and_hand_formula(lags):
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(size=400)) * 0.01 + rng.normal(0.05, 1.0, size=400)
    res = inf.newey_west_t(x, lags)
    used = int(math.floor(4 * (400 / 100) ** (2 / 9))) if lags is None else lags
    assert res.lags == used and res.n == 400
    fit = sm.OLS(x, np.ones(400)).fit(cov_type="HAC", cov_kwds={"maxlags": used})
    assert res.se == pytest.approx(fit.bse[0], rel=1e-12)
    assert res.t == pytest.approx(fit.tvalues[0], rel=1e-12)
    assert res.se == pytest.approx(_bartlett_se(x, used), rel=1e-10)
    assert res.mean == pytest.approx(x.mean(), rel=1e-14)
    assert res.p_value == pytest.approx(2 * sps.norm.sf(abs(res.t)), rel=1e-12)
    if lags == 0:  # no lag: the iid standard error with divisor n
        assert res.se == pytest.approx(x.std(ddof=0) / math.sqrt(400), rel=1e-12)


def test_newey_west_t_drops_nans_and_handles_degenerate_series():
    rng = np.random.default_rng(2)
    x = rng.normal(size=120)
    holed = x.copy()
    holed[[3, 50, 51]] = np.nan
    assert inf.newey_west_t(holed, 4) == inf.newey_west_t(np.delete(x, [3, 50, 51]), 4)
    empty = inf.newey_west_t(np.full(5, np.nan))
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.t)
    one = inf.newey_west_t([0.3])
    assert one.mean == 0.3 and math.isnan(one.t) and one.lags == 0
    const = inf.newey_west_t(np.full(30, 0.2), 5)
    assert const.se == 0.0 and math.isnan(const.t)
    assert inf.newey_west_t(x[:4], 10).lags == 3  # capped at n - 1
    with pytest.raises(DataError, match="1-D"):
        inf.newey_west_t(np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="lags"):
        inf.newey_west_t(x, -1)
    with pytest.raises(DataError, match="infinite"):
        inf.newey_west_t([0.1, math.inf, 0.2])


def test_lag_rules():
    assert inf.newey_west_lags(100) == 4
    assert inf.newey_west_lags(1000) == 6  # floor(4 * 10 ** (2 / 9)) = floor(6.67)
    assert inf.newey_west_lags(0) == 0
    assert inf.ic_lags(1000, 20) == 19
    assert inf.ic_lags(1000, 1) == 6
    assert inf.ic_lags(1000, 5) == 6
    with pytest.raises(ConfigError, match="horizon"):
        inf.ic_lags(100, 0)


def test_overlapping_labels_naive_t_is_inflated_and_newey_west_keeps_its_size():
    """20-bar sums of iid noise (mean 0): how often does each test reject at 5%?

    The naive t (iid standard error) rejects most of the time; Newey-West with ``ic_lags``
    (19 lags) rejects far less, though the Bartlett kernel's down-weighting of the overlap
    leaves it above the nominal 5% (measured 0.13 here; more lags bring it closer).
    """
    rng = np.random.default_rng(3)
    horizon, n, sims = 20, 1000, 400
    nw_reject = naive_reject = 0
    ratios = []
    for _ in range(sims):
        x = _overlapping_sums(rng, n, horizon)
        res = inf.newey_west_t(x, inf.ic_lags(n, horizon))
        naive = x.mean() / (x.std(ddof=1) / math.sqrt(n))
        nw_reject += abs(res.t) > 1.96
        naive_reject += abs(naive) > 1.96
        ratios.append(abs(naive) / abs(res.t))
    assert naive_reject / sims > 0.55
    assert 0.03 <= nw_reject / sims <= 0.16
    assert np.median(ratios) > 3.0  # the naive t is several times the Newey-West t


# ----------------------------------------------------------------------------- bootstrap CIs


def test_sharpe_ci_estimate_determinism_and_nan_handling():
    rng = np.random.default_rng(4)
    r = rng.normal(0.0005, 0.01, 600)
    ci = inf.sharpe_ci(r, reps=200, seed=5)
    assert ci.estimate == pytest.approx(sharpe_ratio(r), rel=1e-12)
    assert ci.low < ci.estimate < ci.high
    assert (ci.level, ci.reps, ci.n) == (0.95, 200, 600)
    assert ci.block_size == inf.stationary_block_size(r) >= 1
    assert inf.sharpe_ci(r, reps=200, seed=5) == ci
    assert inf.sharpe_ci(r, reps=200, seed=6) != ci
    holed = np.concatenate([r, [np.nan, np.nan]])
    assert inf.sharpe_ci(holed, reps=200, seed=5) == ci
    narrow = inf.sharpe_ci(r, reps=200, seed=5, level=0.5)
    assert ci.low < narrow.low < narrow.high < ci.high
    weekly = inf.sharpe_ci(r, reps=200, seed=5, periods_per_year=52)
    assert weekly.estimate == pytest.approx(ci.estimate * math.sqrt(52 / 252))


def test_sharpe_ci_input_checks():
    r = np.random.default_rng(0).normal(size=50)
    with pytest.raises(DataError, match="at least 10"):
        inf.sharpe_ci(r[:9])
    with pytest.raises(DataError, match="constant"):
        inf.sharpe_ci(np.full(40, 0.01))
    with pytest.raises(ConfigError, match="level"):
        inf.sharpe_ci(r, level=1.0)
    with pytest.raises(ConfigError, match="reps"):
        inf.sharpe_ci(r, reps=2)
    with pytest.raises(ConfigError, match="block_size"):
        inf.sharpe_ci(r, block_size=0)
    with pytest.raises(ConfigError, match="periods_per_year"):
        inf.sharpe_ci(r, periods_per_year=0)


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """Stationary AR(1) noise with innovation std ``sigma``."""
    u = rng.normal(0.0, sigma, n)
    e = np.empty(n)
    e[0] = u[0] / math.sqrt(1 - phi**2)
    for t in range(1, n):
        e[t] = phi * e[t - 1] + u[t]
    return e


@pytest.mark.parametrize("phi", [0.0, 0.4], ids=["iid", "ar1"])
def test_sharpe_ci_coverage_on_returns_with_known_sharpe(phi):
    """95% intervals cover the true annualised Sharpe ratio about 95% of the time."""
    rng = np.random.default_rng(7)
    mu, sigma, n, sims = 0.0006, 0.01, 500, 150
    true = mu / (sigma / math.sqrt(1 - phi**2)) * math.sqrt(252)
    hits = 0
    for i in range(sims):
        r = mu + _ar1(rng, n, phi, sigma)
        ci = inf.sharpe_ci(r, reps=300, seed=i)
        hits += ci.low <= true <= ci.high
    assert 0.88 <= hits / sims <= 0.99


def test_sharpe_difference_ci_is_paired():
    rng = np.random.default_rng(8)
    a = rng.normal(0.0004, 0.01, 750)
    b = a + rng.normal(0.0, 0.002, 750)  # almost the same series
    d = inf.sharpe_difference_ci(a, b, reps=300, seed=1)
    assert d.estimate == pytest.approx(sharpe_ratio(a) - sharpe_ratio(b), rel=1e-12)
    assert d.low <= d.estimate <= d.high
    # paired resampling: the difference is far more precise than either Sharpe ratio
    single = inf.sharpe_ci(a, reps=300, seed=1)
    assert (d.high - d.low) < 0.3 * (single.high - single.low)
    same = inf.sharpe_difference_ci(a, a, reps=100, seed=1)
    assert same.estimate == same.low == same.high == 0.0
    # rows where either side is NaN are dropped
    a2, b2 = a.copy(), b.copy()
    a2[5], b2[9] = np.nan, np.nan
    keep = np.ones(750, bool)
    keep[[5, 9]] = False
    assert inf.sharpe_difference_ci(a2, b2, reps=100, seed=2) == inf.sharpe_difference_ci(
        a[keep], b[keep], reps=100, seed=2
    )
    with pytest.raises(DataError, match="aligned"):
        inf.sharpe_difference_ci(a, b[:-1])


def test_stationary_block_size_grows_with_dependence():
    rng = np.random.default_rng(9)
    iid = rng.normal(size=1000)
    ar = _ar1(rng, 1000, 0.8, 1.0)
    assert inf.stationary_block_size(iid) < inf.stationary_block_size(ar)
    assert inf.stationary_block_size(np.full(50, 1.0)) == 1
    both = inf.stationary_block_size(np.column_stack([iid, ar]))
    assert inf.stationary_block_size(iid) <= both <= inf.stationary_block_size(ar)


# ----------------------------------------------------------------------------- paired tests


def test_paired_comparison_equals_scipy_hand_case():
    a = np.array([0.82, 1.10, 0.95, 1.31, 0.77, 1.02, 0.88])
    b = np.array([0.70, 1.05, 0.99, 1.12, 0.71, 0.91, 0.85])
    res = inf.paired_comparison(a, b, level=0.9)
    d = a - b
    n = len(d)
    half = sps.t.ppf(0.95, n - 1) * d.std(ddof=1) / math.sqrt(n)
    assert res.n == n
    assert res.mean_difference == pytest.approx(d.mean(), rel=1e-12)
    assert res.low == pytest.approx(d.mean() - half, rel=1e-10)
    assert res.high == pytest.approx(d.mean() + half, rel=1e-10)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
    assert res.t_statistic == pytest.approx(t, rel=1e-10)
    assert res.t_pvalue == pytest.approx(2 * sps.t.sf(abs(t), n - 1), rel=1e-10)
    assert res.t_pvalue == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-12)
    assert res.wilcoxon_pvalue == pytest.approx(sps.wilcoxon(a, b).pvalue, rel=1e-12)
    # exact Wilcoxon by hand: d = .12, .05, -.04, .19, .06, .11, .03 has |d| ranks 6,3,2,7,4,5,1
    # and one negative, of rank 2: W = 2. Of the 2**7 equally likely sign patterns, the rank
    # sets {}, {1}, {2} give W <= 2: two-sided p = 2 * 3 / 128
    assert res.wilcoxon_pvalue == pytest.approx(2 * 3 / 128, rel=1e-12)


def test_paired_comparison_checks_and_nan_pairs():
    a = [1.0, 2.0, np.nan, 4.0, 5.0]
    b = [0.5, 1.5, 3.0, np.nan, 4.0]
    res = inf.paired_comparison(a, b)
    assert res.n == 3 and res.mean_difference == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    with pytest.raises(DataError, match="at least 2 pairs"):
        inf.paired_comparison([1.0, np.nan], [0.0, 1.0])
    with pytest.raises(DataError, match="aligned"):
        inf.paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ConfigError, match="level"):
        inf.paired_comparison([1.0, 2.0], [0.0, 1.0], level=95)
    same = inf.paired_comparison([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert same.mean_difference == same.low == same.high == 1.0
    assert math.isnan(same.t_pvalue) and math.isnan(same.wilcoxon_pvalue)


# ----------------------------------------------------------------------------- SPA


def test_spa_finds_a_real_edge():
    rng = np.random.default_rng(10)
    bench = rng.normal(0.0002, 0.01, 1000)
    models = bench[:, None] + rng.normal(0.0, 0.01, (1000, 6))
    models[:, 4] += 0.002  # t of about 6 on the excess return
    frame = pd.DataFrame(models, columns=[f"s{i}" for i in range(6)])
    res = inf.spa_test(bench, frame, reps=500, seed=1)
    assert res.p_consistent < 0.01
    assert res.p_lower <= res.p_consistent <= res.p_upper
    assert (res.best_index, res.best_name) == (4, "s4")
    assert res.best_mean_excess == pytest.approx((models[:, 4] - bench).mean())
    assert (res.n, res.n_strategies, res.reps) == (1000, 6, 500)
    assert inf.spa_test(bench, frame, reps=500, seed=1) == res


def test_spa_pvalues_are_large_for_pure_noise():
    pvalues = []
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        bench = rng.normal(0.0, 0.01, 500)
        models = rng.normal(0.0, 0.01, (500, 5))
        pvalues.append(inf.spa_test(bench, models, reps=300, seed=seed).p_consistent)
    assert np.median(pvalues) > 0.2
    assert min(pvalues) > 0.01


def test_spa_input_checks():
    rng = np.random.default_rng(11)
    bench = rng.normal(size=100)
    with pytest.raises(DataError, match="rows"):
        inf.spa_test(bench, rng.normal(size=(99, 3)))
    models = rng.normal(size=(100, 3))
    models[:95, 1] = np.nan  # rows where any series is NaN are dropped
    with pytest.raises(DataError, match="at least 10"):
        inf.spa_test(bench, models)


# ----------------------------------------------------------------------------- verdicts


def test_ci_verdict_cases():
    assert inf.ci_verdict(0.1, 0.5, ">") == "supported"
    assert inf.ci_verdict(-0.5, -0.1, ">") == "contradicted"
    assert inf.ci_verdict(-0.1, 0.5, ">") == "inconclusive"
    assert inf.ci_verdict(0.0, 0.5, ">") == "inconclusive"  # touching 0 is not enough
    assert inf.ci_verdict(-0.5, -0.1, "<") == "supported"
    assert inf.ci_verdict(0.1, 0.5, "<") == "contradicted"
    assert inf.ci_verdict(math.nan, 0.5, ">") == "inconclusive"
    with pytest.raises(ConfigError, match="direction"):
        inf.ci_verdict(0.1, 0.5, ">=")
    with pytest.raises(ConfigError, match="reversed"):
        inf.ci_verdict(0.5, 0.1, ">")


def test_ci_verdict_on_bootstrapped_sharpe_differences():
    rng = np.random.default_rng(12)
    base = rng.normal(0.0, 0.01, 1500)
    noise = rng.normal(0.0, 0.004, 1500)
    better = base + noise + 0.001  # a real edge: about 1.5 annualised Sharpe
    null = base + noise
    cases = {"better": better, "null": null, "worse": base + noise - 0.001}
    verdicts = {}
    for name, series in cases.items():
        ci = inf.sharpe_difference_ci(series, base, reps=300, seed=3)
        verdicts[name] = inf.ci_verdict(ci.low, ci.high, ">")
    assert verdicts == {"better": "supported", "null": "inconclusive", "worse": "contradicted"}
