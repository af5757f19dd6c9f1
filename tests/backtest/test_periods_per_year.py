"""Statistics annualised by the bar frequency inferred from the dates (minutes are not days)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.backtest import run_grid, run_signals, run_weights
from quantrl.data.panel import Panel


def minute_panel(dates: np.ndarray, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(2e-6, 5e-4, (dates.size, 2)), axis=0))
    return Panel(dates, ("A", "B"), {"close": close, "open": close})


def sharpe(r: np.ndarray, ppy: float) -> float:
    return float(r.mean() / r.std(ddof=1) * np.sqrt(ppy))


def test_five_days_of_crypto_minutes():
    dates = pd.date_range("2024-01-01", periods=5 * 1440, freq="min").to_numpy()
    panel = minute_panel(dates)
    w = np.full(panel.shape, 0.5)
    res = run_weights(panel, w, fees=0.0)
    assert res.periods_per_year == 1440 * 365 == panel.periods_per_year
    stats = res.stats()
    assert stats["Sharpe ratio"] == pytest.approx(sharpe(res.returns, 525_600), rel=1e-9)
    daily = run_weights(panel, w, fees=0.0, periods_per_year=252).stats()["Sharpe ratio"]
    assert stats["Sharpe ratio"] / daily == pytest.approx(np.sqrt(525_600 / 252), rel=1e-9)
    assert stats["CAGR"] == pytest.approx(
        (res.equity[-1] / res.init_cash) ** (525_600 / res.n_bars) - 1, rel=1e-9
    )


def test_equity_minutes_and_signals():
    days = pd.bdate_range("2024-03-04", periods=5)
    offsets = pd.Timedelta("14:30:00") + pd.to_timedelta(np.arange(390), "min")
    dates = np.concatenate([(d + offsets).to_numpy() for d in days])
    panel = minute_panel(dates, 1)
    entries = np.zeros(panel.shape, bool)
    entries[10] = True
    res = run_signals(panel, entries, np.zeros(panel.shape, bool))
    assert res.periods_per_year == 390 * 252
    assert res.stats()["Sharpe ratio"] == pytest.approx(sharpe(res.returns, 98_280), rel=1e-9)


def test_daily_bars_are_unchanged(dow30):
    w = np.full(dow30.shape, 1.0 / dow30.n_symbols)
    res = run_weights(dow30, w)
    assert res.periods_per_year == 252
    assert res.stats()["Sharpe ratio"] == pytest.approx(sharpe(res.returns, 252), rel=1e-9)


def test_explicit_value_and_arrays_without_dates():
    close = np.linspace(10, 11, 30)[:, None]
    w = np.full((30, 1), 1.0)
    assert run_weights(close, w, lag=0).periods_per_year == 252
    assert run_weights(close, w, lag=0, periods_per_year=12).periods_per_year == 12
    frame = pd.DataFrame(close, index=pd.date_range("2020-01-31", periods=30, freq="ME"))
    assert run_weights(frame, w, lag=0).periods_per_year == 12


def test_grid_infers_the_frequency_too():
    dates = pd.date_range("2024-01-01", periods=3 * 1440, freq="min").to_numpy()
    panel = minute_panel(dates, 2)
    params = {"fast": [5, 10], "slow": [30, 60]}
    inferred = run_grid(panel, "ma_cross", params, fees=0.0)
    explicit = run_grid(panel, "ma_cross", params, fees=0.0, periods_per_year=525_600)
    daily = run_grid(panel, "ma_cross", params, fees=0.0, periods_per_year=252)
    np.testing.assert_array_equal(inferred["sharpe"], explicit["sharpe"])
    np.testing.assert_allclose(inferred["sharpe"], daily["sharpe"] * np.sqrt(525_600 / 252))
