"""Market-impact study: Kyle's lambda estimator, sign proxies, calibration and the fast run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quantrl.data import load_market
from quantrl.envs.core import fraction_split_dates
from quantrl.envs.hft import HFTEnv
from quantrl.experiments.market_impact import (
    CLAIMS,
    daily_lambdas,
    kyle_lambda,
    momentum_weights,
    signed_volume,
)


def test_kyle_lambda_matches_scipy_linregress() -> None:
    rng = np.random.default_rng(0)
    q = rng.normal(0, 50, 500)
    r = 2e-6 * q + rng.normal(0, 1e-4, 500)
    lam, tstat, r2 = kyle_lambda(r, q)
    ref = stats.linregress(q, r)
    assert lam == pytest.approx(ref.slope, rel=1e-10)
    assert tstat == pytest.approx(ref.slope / ref.stderr, rel=1e-8)
    assert r2 == pytest.approx(ref.rvalue**2, rel=1e-8)
    assert lam == pytest.approx(2e-6, rel=0.1)


def test_kyle_lambda_skips_nan_and_degenerate() -> None:
    r = np.array([np.nan, 1.0, 2.0, 3.0])
    assert np.isnan(kyle_lambda(r, np.zeros(4))[0])
    lam, _, _ = kyle_lambda(r, np.array([5.0, 1.0, 2.0, 3.0]))
    assert lam == pytest.approx(1.0)


def test_signed_volume_proxies_against_loop() -> None:
    rng = np.random.default_rng(1)
    c = 100 + np.round(rng.normal(0, 1, 200).cumsum(), 0)
    o = c + np.round(rng.normal(0, 1, 200), 0)
    v = rng.uniform(1, 5, 200)
    assert np.array_equal(signed_volume(o, c, v, "bar"), v * np.sign(c - o))
    ref = np.zeros(200)
    last = 0.0
    for t in range(1, 200):
        if c[t] != c[t - 1]:
            last = 1.0 if c[t] > c[t - 1] else -1.0
        ref[t] = last
    assert np.array_equal(signed_volume(o, c, v, "tick"), v * ref)
    # the tick rule carries the sign over flat moves
    assert (np.diff(c) == 0).any()


def test_momentum_weights_use_only_past_closes() -> None:
    rng = np.random.default_rng(2)
    c = 100 * np.exp(rng.normal(0, 0.01, (300, 1)).cumsum(axis=0))
    w = momentum_weights(c, 30)
    ref = np.zeros_like(c)
    for t in range(30, 300):
        ref[t] = np.sign(np.log(c[t, 0] / c[t - 30, 0]))
    np.testing.assert_allclose(w, ref)
    c2 = c.copy()
    c2[200:] *= 1.5
    np.testing.assert_array_equal(momentum_weights(c2, 30)[:200], w[:200])


def test_daily_lambdas_recover_planted_impact_and_are_causal() -> None:
    from quantrl.data.panel import Panel

    rng = np.random.default_rng(3)
    n = 2 * 1440
    dates = np.datetime64("2024-01-01T00:00") + np.arange(n).astype("timedelta64[m]")
    v = rng.uniform(10, 20, n)
    side = rng.choice([-1.0, 1.0], n)
    lam = 1e-5
    c = 100 * np.cumprod(1 + lam * side * v + rng.normal(0, 1e-5, n))
    o = np.concatenate(([100.0], c[:-1]))
    hi, lo = np.maximum(o, c) * 1.0001, np.minimum(o, c) * 0.9999
    fields = {"open": o, "high": hi, "low": lo, "close": c, "volume": v}
    panel = Panel(dates, ("X",), {k: x[:, None] for k, x in fields.items()})
    frame = daily_lambdas(panel, "X", quote_volume=False)
    assert len(frame) == 2
    np.testing.assert_allclose(frame["lambda_bar"], lam, rtol=0.05)
    np.testing.assert_allclose(frame["impact_coef"], frame["lambda_bar"] * frame["mean_volume"])
    # day 1's estimate does not change when day 2 is perturbed
    fields2 = {k: x.copy() for k, x in fields.items()}
    for k in ("open", "high", "low", "close"):
        fields2[k][1440:] *= 1.3
    panel2 = Panel(dates, ("X",), {k: x[:, None] for k, x in fields2.items()})
    frame2 = daily_lambdas(panel2, "X", quote_volume=False)
    pd.testing.assert_series_equal(frame2.iloc[0], frame.iloc[0])


def test_estimation_and_test_windows_do_not_overlap() -> None:
    panel = load_market("crypto_minute")
    valid_start, test_start = fraction_split_dates(panel)
    train = panel.split(valid_start, test_start)[0]
    env = HFTEnv("crypto_minute", split="test", impact="linear", impact_coef=3e-4)
    first_traded = env.panel.dates[env.first_row]
    assert train.dates[-1] < np.datetime64(valid_start) <= np.datetime64(test_start)
    assert first_traded >= np.datetime64(test_start)


def test_fast_run_is_deterministic_and_writes_report(tmp_path) -> None:
    from quantrl.experiments import run_experiment

    a = run_experiment("market_impact", tmp_path / "a", fast=True, seed=0)
    b = run_experiment("market_impact", tmp_path / "b", fast=True, seed=0)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert (tmp_path / "a" / "report.html").stat().st_size > 1000
    pd.testing.assert_frame_equal(a.measurements, b.measurements)
    back = pd.read_csv(tmp_path / "a" / "results.csv", index_col=[0, 1])
    np.testing.assert_allclose(back.to_numpy(), a.table.to_numpy(), rtol=1e-12)
    verdicts = pd.read_csv(tmp_path / "a" / "table.csv", index_col=0)
    assert list(verdicts.index) == [c.key for c in CLAIMS]
    named = {c.metric for c in CLAIMS if c.testable} | {c.baseline for c in CLAIMS if c.baseline}
    assert named <= set(a.measurements.columns)
    assert all(c.testable for c in CLAIMS)
    r2 = a.extra_tables["Impact forecasts out of sample (btcusdt_lob)"]["out-of-sample R^2"]
    m = a.measurements.iloc[0]
    assert r2.tolist() == pytest.approx([m["kyle_oos_r2"], m["gbm_oos_r2"]])
    assert 0.0 <= m["small_flow_quadratic_p"] <= 1.0
    t = a.table
    # no impact model -> no impact cost; the calibrated coefficient is below the 1e-3 default
    assert (
        t.loc[[i for i in t.index if i.startswith("none")], "impact_cost_per_episode"] == 0
    ).all()
    cal = t.loc["linear (calibrated) / momentum", "impact_cost_per_episode"]
    default = t.loc["linear (default 1e-3) / momentum", "impact_cost_per_episode"]
    summary = a.extra_tables["Kyle lambda summary"]
    coef = float(summary["impact_coef"].iloc[0])
    assert 0 < coef < 1e-3
    assert 0 < cal < default
    # linear impact scales with the coefficient on (nearly) the same trades
    assert cal / default == pytest.approx(coef / 1e-3, rel=0.1)
