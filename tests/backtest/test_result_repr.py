"""Results read well in Jupyter: bounded one-line reprs and small HTML tables, never arrays."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.backtest import run_signals, run_weights
from quantrl.data.panel import Panel
from quantrl.evaluation.alpha import evaluate_formula


@pytest.fixture(scope="module")
def big(dow30):
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(dow30.n_symbols), dow30.n_dates)
    return run_weights(dow30, w, fees=0.001)


def test_backtest_result_repr_is_short(big, dow30):
    text = repr(big)
    assert len(text) < 500 and "\n" not in text
    head = f"BacktestResult(weights: {dow30.n_symbols} symbols x {dow30.n_dates} bars 2010-01-04.."
    assert text.startswith(head)
    assert "total return" in text and "Sharpe" in text and f"{len(big.trades)} fills" in text
    assert str(big) == text


def test_backtest_result_html_is_a_small_table(big):
    page = big._repr_html_()
    assert len(page) < 4000 and page.count("<tr>") <= 20
    for label in ("Total return", "Sharpe ratio", "Max drawdown", "Win rate", "Total trades"):
        assert label in page
    assert "2010-01-04" in page and "[" not in page  # no array printed


def test_signals_repr_and_no_dates():
    close = np.linspace(10, 12, 50)[:, None]
    entries = np.zeros((50, 1), bool)
    entries[3] = True
    res = run_signals(close, entries, np.zeros((50, 1), bool), lag=0)
    assert repr(res).startswith("BacktestResult(signals: 1 symbols x 50 bars, total return")
    assert "Start" in res._repr_html_()


def test_alpha_report_repr_is_short(dow30):
    report = evaluate_formula("Mean($close, 20) / $close", dow30, 20)
    text = repr(report)
    assert len(text) < 300 and "IC" in text and "RankIC" in text
    page = report._repr_html_()
    assert len(page) < 2500 and "ICIR" in page and "[" not in page


def test_panel_repr_is_bounded_for_a_wide_panel():
    rng = np.random.default_rng(1)
    t, n = 400, 600
    fields = {f"feature_{k}": rng.random((t, n)) for k in range(150)}
    fields["close"] = 1 + rng.random((t, n))
    extras = {f"esg_{k}": rng.random((t, n)) for k in range(40)}
    dates = np.datetime64("2020-01-01", "ns") + np.arange(t) * np.timedelta64(1, "D")
    panel = Panel(dates, tuple(f"S{j}" for j in range(n)), fields, extras, meta={"name": "x" * 300})
    assert len(repr(panel)) < 700
    assert "+139" in repr(panel) and "+28" in repr(panel)
    page = panel._repr_html_()
    assert len(page) < 2500 and "600: S0, S1" in page and "bars per year" in page
