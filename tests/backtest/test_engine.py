"""run_weights / run_signals: hand-computed cases, a plain-Python reference, timing, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.backtest import BacktestResult, run_signals, run_weights
from quantrl.data.panel import Panel
from quantrl.errors import ConfigError, DataError
from quantrl.kernels.portfolio import TRADE_DTYPE


def make_panel(n_bars: int = 60, n_assets: int = 4, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_bars, n_assets)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.005, (n_bars, n_assets)))
    dates = np.arange("2020-01-01", n_bars, dtype="datetime64[D]").astype("datetime64[ns]")
    dates = np.datetime64("2020-01-01", "ns") + np.arange(n_bars) * np.timedelta64(1, "D")
    fields = {
        "open": open_,
        "high": np.maximum(open_, close),
        "low": np.minimum(open_, close),
        "close": close,
        "volume": np.ones_like(close),
    }
    return Panel(dates, tuple(f"S{j}" for j in range(n_assets)), fields)


def reference_rebalance(exec_px, close, targets, init_cash, fees, slippage):
    """Plain-Python target-weight rebalancing, sells first; assumes cash never runs short."""
    n_bars, n = close.shape
    cash = init_cash
    pos = [0.0] * n
    mark = [float("nan")] * n
    equity = []
    for t in range(n_bars):
        for j in range(n):
            if not np.isnan(exec_px[t, j]):
                mark[j] = exec_px[t, j]
        value = cash + sum(pos[j] * mark[j] for j in range(n) if pos[j] != 0)
        orders = []
        for j in range(n):
            w = targets[t, j]
            if np.isnan(w) or np.isnan(exec_px[t, j]):
                continue
            delta = w * value / mark[j] - pos[j]
            orders.append((delta * mark[j], j, delta))
        for _, j, delta in sorted(orders):
            if delta > 0:
                px = exec_px[t, j] * (1 + slippage)
                cash -= delta * px * (1 + fees)
            else:
                px = exec_px[t, j] * (1 - slippage)
                cash += -delta * px * (1 - fees)
            pos[j] += delta
        for j in range(n):
            if not np.isnan(close[t, j]):
                mark[j] = close[t, j]
        equity.append(cash + sum(pos[j] * mark[j] for j in range(n) if pos[j] != 0))
    return np.array(equity)


@pytest.fixture(scope="module")
def panel() -> Panel:
    return make_panel()


@pytest.fixture(scope="module")
def weights(panel: Panel) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.dirichlet(np.ones(panel.n_symbols), panel.n_dates) * 0.9


# ---------------------------------------------------------------------------- hand-computed


def test_single_asset_hand_computed():
    close = np.array([[10.0], [11.0], [12.0]])
    res = run_weights(close, np.array([[1.0], [1.0], [0.0]]), fees=0.01, init_cash=1000.0, lag=0)
    size = 1000 / 1.01 / 10  # all cash, fees included
    assert res.trades[0]["size"] == pytest.approx(size, rel=1e-14)
    assert res.equity[0] == pytest.approx(size * 10, rel=1e-14)
    # bar 1: target 100% of value 11*size, already fully invested -> tiny or no order
    assert res.equity[1] == pytest.approx(size * 11, rel=1e-6)
    # bar 2: sell everything at 12 minus 1% fees
    assert res.positions[2, 0] == 0.0
    assert res.equity[2] == pytest.approx(res.cash[1] + res.positions[1, 0] * 12 * 0.99, rel=1e-12)
    assert res.trades.dtype == TRADE_DTYPE
    assert res.total_fees == pytest.approx(res.trades["fees"].sum())


@pytest.mark.parametrize("execution", ["next_open", "next_close"])
def test_matches_plain_python_reference(panel, weights, execution):
    res = run_weights(panel, weights, fees=0.002, slippage=0.001, execution=execution)
    px = panel["open"] if execution == "next_open" else panel["close"]
    targets = np.full_like(weights, np.nan)
    targets[1:] = weights[:-1]
    ref = reference_rebalance(px, panel["close"], targets, 1e6, 0.002, 0.001)
    np.testing.assert_allclose(res.equity, ref, rtol=1e-11)


def test_lag_zero_matches_reference_with_nan_prices_and_targets(panel, weights):
    close = np.array(panel["close"])
    close[10:15, 1] = np.nan  # a gap: no trade, position carried
    w = weights * 0.5  # the kept position never leaves the others short of cash
    w[20:25, 2] = np.nan  # no target: keep position
    res = run_weights(close, w, fees=0.001, lag=0)
    ref = reference_rebalance(close, close, w, 1e6, 0.001, 0.0)
    np.testing.assert_allclose(res.equity, ref, rtol=1e-11)
    assert np.all(res.positions[10:15, 1] == res.positions[9, 1])
    assert np.all(res.positions[20:25, 2] == res.positions[19, 2])
    assert not np.any(
        (res.trades["asset"] == 1) & (res.trades["bar"] >= 10) & (res.trades["bar"] < 15)
    )


# ---------------------------------------------------------------------------- timing


@pytest.mark.parametrize(
    ("execution", "lag", "field", "shift"),
    [
        ("next_open", 1, "open", 1),
        ("next_close", 1, "close", 1),
        ("next_open", 0, "close", 0),
        ("next_close", 2, "close", 2),
    ],
)
def test_fill_prices_follow_timing(panel, weights, execution, lag, field, shift):
    res = run_weights(panel, weights, fees=0.0, execution=execution, lag=lag)
    assert res.trades["bar"].min() == shift
    np.testing.assert_array_equal(
        res.trades["price"], panel[field][res.trades["bar"], res.trades["asset"]]
    )


@pytest.mark.parametrize(
    ("execution", "lag"), [("next_open", 1), ("next_close", 1), ("next_close", 0)]
)
def test_no_look_ahead_prices(panel, weights, execution, lag):
    t = 30
    base = run_weights(panel, weights, execution=execution, lag=lag, slippage=0.001)
    rng = np.random.default_rng(7)
    fields = {k: np.array(v) for k, v in panel.fields.items()}
    shock = np.exp(rng.normal(0, 0.3, (panel.n_dates - t - 1, panel.n_symbols)))
    for k in ("open", "high", "low", "close"):
        fields[k][t + 1 :] *= shock
    fields["close"][t + 5 :, 0] = np.nan  # even a delisting after t changes nothing before
    moved = run_weights(
        panel.replace(fields=fields), weights, execution=execution, lag=lag, slippage=0.001
    )
    np.testing.assert_array_equal(moved.equity[: t + 1], base.equity[: t + 1])
    np.testing.assert_array_equal(moved.cash[: t + 1], base.cash[: t + 1])
    np.testing.assert_array_equal(moved.positions[: t + 1], base.positions[: t + 1])
    assert not np.array_equal(moved.equity[t + 2 :], base.equity[t + 2 :])


@pytest.mark.parametrize("execution", ["next_open", "next_close"])
def test_no_look_ahead_decisions(panel, weights, execution):
    """With lag=1 a decision at row t cannot touch anything up to bar t."""
    t = 25
    base = run_weights(panel, weights, execution=execution)
    w = weights.copy()
    w[t:] = w[t:][:, ::-1]
    moved = run_weights(panel, w, execution=execution)
    np.testing.assert_array_equal(moved.equity[: t + 1], base.equity[: t + 1])
    np.testing.assert_array_equal(moved.positions[: t + 1], base.positions[: t + 1])
    assert not np.array_equal(moved.positions[t + 1], base.positions[t + 1])


def test_signals_no_look_ahead(panel):
    t = 30
    rng = np.random.default_rng(3)
    entries = rng.random(panel.shape) < 0.1
    exits = rng.random(panel.shape) < 0.1
    base = run_signals(panel, entries, exits)
    e2 = entries.copy()
    e2[t:] = ~e2[t:]
    moved = run_signals(panel, e2, exits)
    np.testing.assert_array_equal(moved.equity[: t + 1], base.equity[: t + 1])


# ---------------------------------------------------------------------------- features


def test_long_short_with_leverage_cap(panel):
    rng = np.random.default_rng(2)
    w = rng.normal(size=panel.shape)
    w -= w.mean(axis=1, keepdims=True)  # market neutral: short proceeds fund the longs
    w = w / np.abs(w).sum(axis=1, keepdims=True) * 1.5
    res = run_weights(panel, w, max_leverage=1.5, fees=0.0, execution="next_close")
    assert (res.positions < 0).any()
    gross = np.abs(res.weights[1:]).sum(axis=1)
    # after each rebalance at the close the gross exposure is the target
    np.testing.assert_allclose(gross, np.abs(w[:-1]).sum(axis=1), rtol=1e-9)
    with pytest.raises(ConfigError, match="gross leverage 1.5 above max_leverage=1"):
        run_weights(panel, w)
    # no margin borrowing: a 150% long book is capped by the cash available
    longs = run_weights(
        panel,
        np.full(panel.shape, 1.5 / panel.n_symbols),
        max_leverage=1.5,
        fees=0.0,
        execution="next_close",
    )
    np.testing.assert_allclose(longs.weights[1:].sum(axis=1), 1.0, rtol=1e-9)


def test_rebalance_threshold_skips_small_changes(panel, weights):
    w = np.tile(weights[0], (panel.n_dates, 1))
    full = run_weights(panel, w, execution="next_close")
    lazy = run_weights(panel, w, execution="next_close", rebalance_threshold=0.03)
    assert np.sum(lazy.trades["bar"] == 1) == panel.n_symbols  # the initial build
    assert len(lazy.trades) < len(full.trades) / 3
    # every later trade fixes a drift of at least the threshold, measured before the trade
    pre_w = (
        lazy.positions[:-1]
        * panel["close"][1:]
        / (lazy.cash[:-1] + (lazy.positions[:-1] * panel["close"][1:]).sum(axis=1))[:, None]
    )
    later = lazy.trades[lazy.trades["bar"] > 1]
    drift = np.abs(pre_w[later["bar"] - 1, later["asset"]] - w[0][later["asset"]])
    assert np.all(drift >= 0.03)
    untraded = np.ones(pre_w.shape, bool)
    untraded[later["bar"] - 1, later["asset"]] = False
    assert np.all(np.abs(pre_w - w[0])[1:][untraded[1:]] < 0.03)


def test_delisting_freeze_and_liquidate(panel):
    close = np.array(panel["close"])
    close[40:, 0] = np.nan
    w = np.full(panel.shape, 0.2)
    frozen = run_weights(close, w, lag=0)
    assert np.all(frozen.positions[40:, 0] == frozen.positions[39, 0])
    np.testing.assert_allclose(
        frozen.weights[39:, 0] * frozen.equity[39:], frozen.positions[39, 0] * close[39, 0]
    )
    liq = run_weights(close, w, lag=0, delisting="liquidate", fees=0.001, slippage=0.01)
    assert np.all(liq.positions[40:, 0] == 0.0)
    last = liq.trades[(liq.trades["asset"] == 0)][-1]
    assert last["bar"] == 40 and last["price"] == close[39, 0] * 0.99 and last["side"] == 1
    # slippage of bar 40: the liquidation is quoted at the last close, the others at the close
    at40 = liq.trades[liq.trades["bar"] == 40]
    quoted = np.where(at40["asset"] == 0, close[39, 0], close[40, at40["asset"]])
    assert liq.slippage_paid[40] == pytest.approx((at40["size"] * quoted * 0.01).sum(), rel=1e-12)
    same_costs = run_weights(close, w, lag=0, fees=0.001, slippage=0.01)
    np.testing.assert_array_equal(liq.equity[:40], same_costs.equity[:40])


def test_all_nan_row_skips_the_bar(panel, weights):
    w = weights.copy()
    w[5:] = np.nan
    res = run_weights(panel, w, lag=0)
    assert res.trades["bar"].max() == 4
    assert np.all(res.positions[5:] == res.positions[4])


def test_result_accessors(panel, weights):
    res = run_weights(panel, weights, fees=0.001, slippage=0.002, benchmark="S0")
    assert isinstance(res, BacktestResult)
    cash_w = res.cash / res.equity
    np.testing.assert_allclose(res.weights.sum(axis=1) + cash_w, 1.0, rtol=1e-12)
    np.testing.assert_allclose(res.returns[1:], res.equity[1:] / res.equity[:-1] - 1)
    assert res.returns[0] == res.equity[0] / 1e6 - 1
    np.testing.assert_allclose(res.fees_paid.sum(), res.trades["fees"].sum())
    quoted = panel["open"][res.trades["bar"], res.trades["asset"]]
    np.testing.assert_allclose(res.slippage_paid.sum(), (res.trades["size"] * quoted * 0.002).sum())
    bar = 10
    sel = res.trades["bar"] == bar
    np.testing.assert_allclose(
        res.turnover[bar],
        (res.trades["size"][sel] * res.trades["price"][sel]).sum() / res.equity[bar - 1],
    )
    summary = res.to_pandas()
    assert list(summary.columns[:3]) == ["equity", "cash", "returns"]
    assert isinstance(summary.index, pd.DatetimeIndex)
    trades = res.to_pandas("trades")
    assert len(trades) == len(res.trades) and set(trades["side"]) <= {"buy", "sell"}
    assert res.to_pandas("positions").shape == panel.shape
    with pytest.raises(ConfigError):
        res.to_pandas("nope")
    np.testing.assert_allclose(
        res.benchmark_returns[1:], panel["close"][1:, 0] / panel["close"][:-1, 0] - 1
    )


def test_stats_uses_summary_stats(panel, weights):
    res = run_weights(panel, weights, periods_per_year=252)
    stats = res.stats()
    assert isinstance(stats, pd.Series)
    r = res.returns
    assert stats["Total return"] == pytest.approx(np.prod(1 + r) - 1, rel=1e-10)
    assert stats["Sharpe ratio"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252), rel=1e-8)


def test_plot_returns_figure(panel, weights):
    import matplotlib.figure

    fig = run_weights(panel, weights, benchmark="S1").plot()
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 3
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_signals_hand_computed():
    close = np.array([10.0, 10.0, 12.0, 12.0, 9.0])
    entries = np.array([True, False, False, False, False])
    exits = np.array([False, False, True, False, False])
    res = run_signals(close, entries, exits, fees=0.0, init_cash=100.0, lag=0)
    np.testing.assert_allclose(res.equity, [100, 100, 120, 120, 120])
    short = run_signals(
        close,
        np.zeros(5, bool),
        np.zeros(5, bool),
        short_entries=entries,
        short_exits=exits,
        fees=0.0,
        init_cash=100.0,
        lag=0,
    )
    np.testing.assert_allclose(short.equity, [100, 100, 80, 80, 80])
    half = run_signals(close, entries, exits, size=0.5, fees=0.0, init_cash=100.0, lag=0)
    np.testing.assert_allclose(half.equity, [100, 100, 110, 110, 110])
    # next bar open fills: entry at bar 1 open, exit at bar 3 open
    opens = np.array([10.0, 11.0, 11.0, 13.2, 9.0])
    nxt = run_signals(close, entries, exits, fees=0.0, init_cash=110.0, open_prices=opens)
    assert list(nxt.trades["bar"]) == [1, 3]
    assert nxt.equity[-1] == pytest.approx(132.0)


def test_signals_sleeves_are_independent(panel):
    rng = np.random.default_rng(5)
    entries = rng.random(panel.shape) < 0.1
    exits = rng.random(panel.shape) < 0.1
    res = run_signals(panel, entries, exits, init_cash=4e6)
    one = run_signals(panel.select(["S2"]), entries[:, 2], exits[:, 2], init_cash=1e6)
    np.testing.assert_allclose(res.spec["sleeve_equity"][:, 2], one.equity, rtol=1e-14)


# ---------------------------------------------------------------------------- bad input


def test_bad_inputs(panel, weights):
    with pytest.raises(ConfigError, match=r"target_weights has shape \(60, 3\)"):
        run_weights(panel, weights[:, :3])
    w = weights.copy()
    w[3, 1] = np.inf
    with pytest.raises(ConfigError, match="infinite value at row 3, symbol S1"):
        run_weights(panel, w)
    for kw, pat in [
        ({"fees": -0.1}, "fees"),
        ({"slippage": -1e-3}, "slippage"),
        ({"init_cash": -5.0}, "init_cash"),
        ({"init_cash": 0.0}, "init_cash"),
        ({"fixed_fees": -1.0}, "fixed_fees"),
        ({"slippage": 1.5}, "slippage"),
        ({"execution": "tomorrow"}, "execution"),
        ({"lag": -1}, "lag"),
        ({"rebalance_threshold": -0.1}, "rebalance_threshold"),
        ({"max_leverage": 0.0}, "max_leverage"),
        ({"delisting": "vanish"}, "delisting"),
    ]:
        with pytest.raises(ConfigError, match=pat):
            run_weights(panel, weights, **kw)
    with pytest.raises(ConfigError, match="needs open prices"):
        run_weights(np.array(panel["close"]), weights)
    with pytest.raises(DataError, match="empty"):
        run_weights(np.empty((0, 3)), np.empty((0, 3)), lag=0)
    empty = Panel(np.array([], dtype="datetime64[ns]"), ("A", "B"), {"close": np.empty((0, 2))})
    with pytest.raises(DataError, match=r"no prices to backtest: shape \(0, 2\)"):
        run_weights(empty, np.empty((0, 2)), execution="next_close")
    with pytest.raises(DataError, match="empty panel"):
        run_signals(panel.replace(warmup=panel.n_dates), weights > 0.3, weights < 0.1)
    close = np.array(panel["close"])
    close[7, 2] = -1.0
    with pytest.raises(DataError, match="not a positive finite number") as info:
        run_weights(close, weights, lag=0)
    assert info.value.symbol == "asset_2"
    close[7, 2] = np.inf
    with pytest.raises(DataError, match="non-positive price"):
        run_weights(close, weights, lag=0)
    with pytest.raises(ConfigError, match="size must be"):
        run_signals(panel, weights > 0.3, weights < 0.1, size=1.5)
    nan_signals = np.where(weights > 0.3, 1.0, np.nan)
    with pytest.raises(ConfigError, match="entries contains NaN"):
        run_signals(panel, nan_signals, weights < 0.1)
    with pytest.raises(ConfigError, match="benchmark"):
        run_weights(panel, weights, benchmark="XYZ")


def test_dataframe_inputs_are_aligned_by_column(panel, weights):
    close = pd.DataFrame(
        np.array(panel["close"]), index=pd.DatetimeIndex(panel.dates), columns=list(panel.symbols)
    )
    wdf = pd.DataFrame(weights, index=close.index, columns=list(panel.symbols))
    a = run_weights(close, wdf, lag=0)
    b = run_weights(close, wdf[wdf.columns[::-1]], lag=0)
    np.testing.assert_array_equal(a.equity, b.equity)
    assert a.symbols == panel.symbols and a.dates is not None


def test_warmup_rows_are_history_only(panel, weights):
    seg = panel.replace(warmup=10)
    res = run_weights(seg, weights, benchmark="S0")
    ref = run_weights(panel.slice(panel.dates[10]), weights[10:], benchmark="S0")
    assert res.n_bars == panel.n_dates - 10
    np.testing.assert_array_equal(res.equity, ref.equity)
    np.testing.assert_array_equal(res.dates, panel.dates[10:])
    np.testing.assert_array_equal(res.benchmark_returns, ref.benchmark_returns)
    sig = run_signals(seg, weights > 0.3, weights < 0.1)
    assert sig.positions.shape == (panel.n_dates - 10, panel.n_symbols)


def test_weights_frame_with_other_dates_is_rejected(panel, weights):
    idx = pd.DatetimeIndex(panel.dates) + pd.Timedelta(days=1)
    with pytest.raises(ConfigError, match="index does not match"):
        run_weights(panel, pd.DataFrame(weights, index=idx, columns=list(panel.symbols)))
