"""Newey-West t-statistics of the IC summary for overlapping labels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from quantrl.data import Panel
from quantrl.evaluation.alpha import evaluate_formulas
from quantrl.stats.ic import ic_series, ic_summary, rank_ic_series, summarize_ic


def _persistent_factor_and_overlapping_label(
    rng: np.random.Generator, t_len: int, n_sym: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """A slow factor (fixed per symbol plus noise) and ``horizon``-bar sums of iid returns.

    The factor carries no information (mean IC 0), but consecutive labels share ``horizon - 1``
    bars, so the daily ICs are strongly autocorrelated.
    """
    factor = np.repeat(rng.normal(size=(1, n_sym)), t_len, axis=0)
    factor += 0.2 * rng.normal(size=(t_len, n_sym))
    r = rng.normal(size=(t_len + horizon, n_sym))
    c = np.vstack([np.zeros((1, n_sym)), np.cumsum(r, axis=0)])
    return factor, c[horizon : horizon + t_len] - c[:t_len]


def test_summary_t_statistics_are_newey_west_with_horizon_lags():
    rng = np.random.default_rng(31)
    f, y = _persistent_factor_and_overlapping_label(rng, 400, 30, 20)
    f[rng.random(f.shape) < 0.05] = np.nan
    s = ic_summary(f, y, horizon=20)
    ic, ric = ic_series(f, y), rank_ic_series(f, y)
    ic_ok = ic[np.isfinite(ic)]
    assert (s.horizon, s.lags, s.n_dates) == (20, 19, ic_ok.size)
    fit = sm.OLS(ic_ok, np.ones(ic_ok.size)).fit(cov_type="HAC", cov_kwds={"maxlags": 19})
    assert s.ic_t == pytest.approx(fit.tvalues[0], rel=1e-12)
    ric_ok = ric[np.isfinite(ric)]
    fit = sm.OLS(ric_ok, np.ones(ric_ok.size)).fit(cov_type="HAC", cov_kwds={"maxlags": 19})
    assert s.rank_ic_t == pytest.approx(fit.tvalues[0], rel=1e-12)
    # the existing fields keep their values whatever the horizon
    one = ic_summary(f, y)
    for name in ("ic", "icir", "rank_ic", "rank_icir", "ic_positive", "n_dates"):
        assert getattr(one, name) == getattr(s, name)
    assert (one.horizon, one.lags) == (1, int(math.floor(4 * (ic_ok.size / 100) ** (2 / 9))))
    assert summarize_ic(ic, ric, 20) == s
    assert set(s.as_dict()) >= {"ic_t", "rank_ic_t", "lags", "horizon"}


def test_naive_ic_t_is_several_times_the_newey_west_t():
    """On a factor with no information and 20-bar labels, ICIR * sqrt(n) overstates the t."""
    rng = np.random.default_rng(32)
    naive, nw = [], []
    for _ in range(25):
        f, y = _persistent_factor_and_overlapping_label(rng, 500, 25, 20)
        s = ic_summary(f, y, horizon=20)
        naive.append(s.icir * math.sqrt(s.n_dates))
        nw.append(s.ic_t)
    ratio = np.abs(naive) / np.abs(nw)
    assert np.median(ratio) > 3.0
    assert np.std(naive) > 2.5 * np.std(nw)


def test_no_valid_date_gives_nan_t_statistics():
    s = ic_summary(np.full((3, 4), np.nan), np.ones((3, 4)), horizon=5)
    assert s.n_dates == 0 and math.isnan(s.ic_t) and math.isnan(s.rank_ic_t)
    assert (s.lags, s.horizon) == (4, 5)


def test_alpha_report_ic_stats_use_its_horizon():
    rng = np.random.default_rng(33)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (260, 12)), axis=0))
    dates = pd.bdate_range("2021-01-01", periods=260).to_numpy()
    panel = Panel(dates, tuple(f"S{i}" for i in range(12)), {"close": close})
    (report,), _ = evaluate_formulas(["Mean($close, 5) / $close"], panel, 10)
    stats = report.ic_stats
    assert stats.horizon == 10 and stats.lags == 9
    assert stats == summarize_ic(report.ic, report.rank_ic, 10)
    assert stats.ic == report.metrics.ic and stats.icir == report.metrics.icir
