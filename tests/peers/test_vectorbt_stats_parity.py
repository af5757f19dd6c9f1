"""``BacktestResult.stats()`` / ``round_trips()`` against vectorbt 1.2's ``Portfolio.stats()``
and exit trades on the same runs (``lag=0``, as in ``test_vectorbt_parity``).

Definitions that differ and are not compared: ``Period`` (quantrl: calendar span end - start;
vectorbt: number of bars times ``freq``), ``Max drawdown duration`` (quantrl: bars from the peak
to recovery; vectorbt: its drawdown records' longest duration) and, with short positions,
``Max gross exposure`` (quantrl: max sum |w|; vectorbt divides by value plus twice the unrealised
short loss). Returns-based ratios are covered by the equity and empyrical parity tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.backtest import run_signals, run_weights

vbt = pytest.importorskip("vectorbt")

RTOL = 1e-9
DAY = pd.Timedelta(days=1)

# quantrl row -> (vectorbt row, how a vectorbt value converts to quantrl's units)
ROWS = {
    "Start": ("Start", None),
    "End": ("End", None),
    "Start value": ("Start Value", 1.0),
    "End value": ("End Value", 1.0),
    "Total return": ("Total Return [%]", 0.01),
    "Benchmark return": ("Benchmark Return [%]", 0.01),
    "Max gross exposure": ("Max Gross Exposure [%]", 0.01),
    "Total fees paid": ("Total Fees Paid", 1.0),
    "Max drawdown": ("Max Drawdown [%]", -0.01),
    "Total trades": ("Total Trades", None),
    "Total closed trades": ("Total Closed Trades", None),
    "Total open trades": ("Total Open Trades", None),
    "Open trade PnL": ("Open Trade PnL", 1.0),
    "Win rate": ("Win Rate [%]", 0.01),
    "Best trade": ("Best Trade [%]", 0.01),
    "Worst trade": ("Worst Trade [%]", 0.01),
    "Avg winning trade": ("Avg Winning Trade [%]", 0.01),
    "Avg losing trade": ("Avg Losing Trade [%]", 0.01),
    "Avg winning trade duration (bars)": ("Avg Winning Trade Duration", "bar"),
    "Avg losing trade duration (bars)": ("Avg Losing Trade Duration", "bar"),
    "Profit factor": ("Profit Factor", 1.0),
    "Expectancy": ("Expectancy", 1.0),
}


@pytest.fixture(scope="module")
def close(dow30) -> pd.DataFrame:
    frame = pd.DataFrame(
        np.array(dow30["close"]), index=pd.DatetimeIndex(dow30.dates), columns=list(dow30.symbols)
    )
    return frame.iloc[:800, :12]


def assert_stats_equal(
    mine: pd.Series, theirs: pd.Series, skip: tuple[str, ...] = (), bar: pd.Timedelta = DAY
) -> None:
    for row, (their_row, scale) in ROWS.items():
        if row in skip:
            continue
        a, b = mine[row], theirs[their_row]
        if scale is None:
            assert a == b, f"{row}: {a} != {b}"
        elif scale == "bar":  # vectorbt: bars times freq
            assert a == pytest.approx(b / bar, rel=RTOL), row
        else:
            assert a == pytest.approx(b * scale, rel=RTOL, abs=1e-12), row


def assert_trades_equal(res, pf) -> None:
    rec = pf.trades.records  # per column in time order, as round_trips()
    mine = res.round_trip_records
    assert len(mine) == len(rec)
    np.testing.assert_array_equal(mine["asset"], rec["col"])
    np.testing.assert_array_equal(mine["entry_bar"], rec["entry_idx"])
    np.testing.assert_array_equal(mine["exit_bar"], rec["exit_idx"])
    np.testing.assert_array_equal(mine["direction"], rec["direction"])
    np.testing.assert_array_equal(mine["status"], rec["status"])
    np.testing.assert_array_equal(mine["position"], rec["parent_id"])
    for field in ("size", "entry_price", "exit_price", "entry_fees", "exit_fees", "return"):
        np.testing.assert_allclose(mine[field], rec[field], rtol=RTOL, atol=1e-12, err_msg=field)
    scale = np.abs(rec["size"] * rec["entry_price"]).to_numpy()
    assert np.max(np.abs(mine["pnl"] - rec["pnl"]) / scale) <= RTOL


@pytest.mark.parametrize(
    ("fees", "slippage", "fixed_fees", "seed"),
    [(0.001, 0.0005, 0.0, 1), (0.002, 0.001, 5.0, 2), (0.0, 0.0, 0.0, 3)],
)
def test_weights_stats_equal_vectorbt(close, fees, slippage, fixed_fees, seed):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(close.shape[1]), close.shape[0]) * rng.uniform(
        0.3, 1.0, (len(close), 1)
    )
    w[rng.random(w.shape) < 0.5] = np.nan  # keep positions: adds, partial exits
    w[rng.random(w.shape) < 0.05] = 0.0  # full exits
    pf = vbt.Portfolio.from_orders(
        close,
        size=w,
        size_type="targetpercent",
        cash_sharing=True,
        call_seq="auto",
        group_by=True,
        freq="1D",
        fees=fees,
        slippage=slippage,
        fixed_fees=fixed_fees,
        init_cash=1e6,
    )
    res = run_weights(
        close,
        w,
        fees=fees,
        slippage=slippage,
        fixed_fees=fixed_fees,
        init_cash=1e6,
        lag=0,
        benchmark=pf.benchmark_value().to_numpy(),
    )
    assert_trades_equal(res, pf)
    assert_stats_equal(res.stats(), pf.stats())


def test_long_short_weights_with_reversals(close):
    rng = np.random.default_rng(5)
    w = rng.normal(size=close.shape)
    w = w / np.abs(w).sum(axis=1, keepdims=True) * 1.5
    w[rng.random(w.shape) < 0.4] = np.nan
    pf = vbt.Portfolio.from_orders(
        close,
        size=w,
        size_type="targetpercent",
        cash_sharing=True,
        call_seq="auto",
        group_by=True,
        freq="1D",
        fees=0.001,
        slippage=0.001,
        init_cash=1e6,
    )
    res = run_weights(close, w, fees=0.001, slippage=0.001, lag=0, max_leverage=1.5)
    assert_trades_equal(res, pf)
    assert (res.round_trip_records["direction"] == 1).any()
    assert_stats_equal(res.stats(), pf.stats(), skip=("Benchmark return", "Max gross exposure"))


def test_long_short_signals_equal_vectorbt(close):
    fast = vbt.MA.run(close, 5)
    slow = vbt.MA.run(close, 20)
    entries = fast.ma_crossed_above(slow).to_numpy()
    exits = fast.ma_crossed_below(slow).to_numpy()
    n = close.shape[1]
    res = run_signals(
        close,
        entries,
        exits,
        short_entries=exits,
        short_exits=entries,
        fees=0.001,
        slippage=0.0005,
        init_cash=1e4 * n,
        lag=0,
    )
    pf = res.to_vectorbt()
    assert_trades_equal(res, pf)
    assert_stats_equal(res.stats(), pf.stats(), skip=("Benchmark return", "Max gross exposure"))
    long_only = run_signals(close, entries, exits, fees=0.001, init_cash=1e4 * n, lag=0)
    pf_long = long_only.to_vectorbt()
    assert_trades_equal(long_only, pf_long)
    assert_stats_equal(long_only.stats(), pf_long.stats(), skip=("Benchmark return",))


def test_minute_bars_annualise_alike():
    """The inferred bars per year (crypto minutes: 525,600) match vectorbt's freq='1min'."""
    rng = np.random.default_rng(8)
    index = pd.date_range("2024-01-01", periods=3 * 1440, freq="min")
    close = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 5e-4, (index.size, 2)), axis=0)), index=index
    )
    w = np.where(rng.random(close.shape) < 0.01, rng.uniform(0, 0.5, close.shape), np.nan)
    res = run_weights(close, w, fees=0.0005, lag=0)
    pf = res.to_vectorbt()
    assert res.periods_per_year == 525_600 and pf.wrapper.freq == pd.Timedelta("1min")
    theirs = pf.stats()
    assert res.stats()["Sharpe ratio"] == pytest.approx(theirs["Sharpe Ratio"], rel=RTOL)
    assert res.stats()["Sortino ratio"] == pytest.approx(theirs["Sortino Ratio"], rel=RTOL)
    assert_stats_equal(res.stats(), theirs, skip=("Benchmark return",), bar=pd.Timedelta("1min"))
