"""BacktestResult: equity, positions, trades and costs of one backtest, with stats and plots."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from quantrl.data.frequency import bar_spacing
from quantrl.display import format_percent, format_value, summary_html
from quantrl.errors import ConfigError
from quantrl.kernels.trades import CLOSED, LONG, ROUND_TRIP_DTYPE, round_trips_nb
from quantrl.stats.performance import TrialSet, max_drawdown, sharpe_ratio, summary_stats

REPR_ROWS = (
    "Start",
    "End",
    "Period",
    "Start value",
    "End value",
    "Total return",
    "Benchmark return",
    "CAGR",
    "Sharpe ratio",
    "Sortino ratio",
    "Max drawdown",
    "Max gross exposure",
    "Total fees paid",
    "Total trades",
    "Win rate",
    "Profit factor",
)
"""Rows of ``stats()`` shown by ``BacktestResult._repr_html_``."""


_PERCENT_ROWS = {
    "Total return",
    "Benchmark return",
    "CAGR",
    "Max drawdown",
    "Max gross exposure",
    "Win rate",
}


def _mean(values: np.ndarray) -> float:
    """Mean of an array, NaN when empty."""
    return float(values.mean()) if values.size else float("nan")


def _cell(label: str, value: Any) -> str:
    """A statistic as text: percentages for return-like rows, else ``format_value``."""
    if label in _PERCENT_ROWS and isinstance(value, float | np.floating):
        return format_percent(float(value))
    return format_value(value)


def ffill_rows(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs down each column of a (T, N) array (leading NaNs stay NaN)."""
    n_bars = values.shape[0]
    idx = np.where(~np.isnan(values), np.arange(n_bars)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = np.take_along_axis(values, idx, axis=0)
    return out


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Outcome of ``run_weights`` / ``run_signals``.

    ``equity``/``cash`` are (T,) end-of-bar values, ``positions`` (T, N) units held at each bar's
    end, ``trades`` a structured array with fields (bar, asset, size, price, fees, side) where
    ``price`` includes slippage and side 0 = buy, 1 = sell. ``spec`` records how the run was
    made (aligned targets or signals, costs, timing) so ``to_vectorbt`` can replay it.
    """

    dates: np.ndarray | None
    symbols: tuple[str, ...]
    equity: np.ndarray
    cash: np.ndarray
    positions: np.ndarray
    close: np.ndarray
    exec_prices: np.ndarray
    trades: np.ndarray
    init_cash: float
    benchmark_prices: np.ndarray | None = None
    periods_per_year: float = 252.0
    freq: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived series
    @property
    def n_bars(self) -> int:
        """Number of bars."""
        return int(self.equity.shape[0])

    @cached_property
    def marks(self) -> np.ndarray:
        """(T, N) prices positions are valued at: the close, NaN carried from the last one."""
        return ffill_rows(self.close)

    @cached_property
    def returns(self) -> np.ndarray:
        """(T,) simple returns of equity; the first bar is measured against ``init_cash``."""
        prev = np.concatenate(([self.init_cash], self.equity[:-1]))
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.equity / prev - 1.0

    @cached_property
    def weights(self) -> np.ndarray:
        """(T, N) end-of-bar position values as fractions of equity (0 where flat)."""
        value = np.where(self.positions != 0, self.positions * self.marks, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return value / self.equity[:, None]

    def _per_bar(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.trades["bar"], weights=values, minlength=self.n_bars).astype(
            np.float64
        )

    @cached_property
    def fees_paid(self) -> np.ndarray:
        """(T,) fees paid per bar."""
        return self._per_bar(self.trades["fees"])

    @cached_property
    def slippage_paid(self) -> np.ndarray:
        """(T,) slippage cost per bar: units times the distance between fill and quoted price."""
        bar, asset = self.trades["bar"], self.trades["asset"]
        quoted = self.exec_prices[bar, asset]
        # a delisted asset is liquidated at its last close (no quote on that bar)
        missing = np.isnan(quoted)
        quoted[missing] = self.marks[np.maximum(bar[missing] - 1, 0), asset[missing]]
        cost = np.abs(self.trades["price"] - quoted) * self.trades["size"]
        return self._per_bar(np.nan_to_num(cost, nan=0.0))

    @cached_property
    def costs(self) -> np.ndarray:
        """(T,) fees plus slippage per bar."""
        return self.fees_paid + self.slippage_paid

    @cached_property
    def traded_value(self) -> np.ndarray:
        """(T,) notional traded per bar (units times fill price)."""
        return self._per_bar(self.trades["size"] * self.trades["price"])

    @cached_property
    def turnover(self) -> np.ndarray:
        """(T,) notional traded in a bar over the equity before it (``init_cash`` for bar 0)."""
        prev = np.concatenate(([self.init_cash], self.equity[:-1]))
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.traded_value / prev

    @property
    def total_return(self) -> float:
        """Final equity over initial cash, minus one."""
        return float(self.equity[-1] / self.init_cash - 1.0)

    @property
    def total_fees(self) -> float:
        """Sum of all fees paid."""
        return float(self.trades["fees"].sum())

    @cached_property
    def benchmark_returns(self) -> np.ndarray | None:
        """(T,) simple returns of the benchmark prices (first bar 0), or None."""
        if self.benchmark_prices is None:
            return None
        p = ffill_rows(np.asarray(self.benchmark_prices, dtype=np.float64)[:, None])[:, 0]
        out = np.zeros_like(p)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[1:] = p[1:] / p[:-1] - 1.0
        return np.nan_to_num(out, nan=0.0)

    @cached_property
    def round_trip_records(self) -> np.ndarray:
        """Round trips (``quantrl.kernels.trades.ROUND_TRIP_DTYPE``), per asset in time order.

        vectorbt's exit trades: each fill that reduces a position closes a trade of its size at
        the position's average entry price; a position still held at the end is an open trade
        valued at the last close.
        """
        fills = self.trades
        out = np.empty(len(fills) + len(self.symbols), dtype=ROUND_TRIP_DTYPE)
        if len(fills) == 0:
            return out[:0]
        order = np.lexsort((np.arange(len(fills)), fills["bar"], fills["asset"]))
        f = fills[order]
        n = round_trips_nb(
            np.ascontiguousarray(f["bar"]),
            np.ascontiguousarray(f["asset"]),
            np.ascontiguousarray(f["size"]),
            np.ascontiguousarray(f["price"]),
            np.ascontiguousarray(f["fees"]),
            np.ascontiguousarray(f["side"]),
            self.n_bars - 1,
            np.ascontiguousarray(self.marks[-1]),
            out,
        )
        return out[:n]

    def round_trips(self) -> pd.DataFrame:
        """Round trips, one row each: symbol, direction, status, entry and exit date and price,
        size, fees, PnL, return and bars held (open trades are valued at the last close)."""
        rec = self.round_trip_records
        index = self._index()
        entry, exit_ = rec["entry_bar"].astype(np.int64), rec["exit_bar"].astype(np.int64)
        return pd.DataFrame(
            {
                "symbol": np.asarray(self.symbols, dtype=object)[rec["asset"]],
                "direction": np.where(rec["direction"] == LONG, "long", "short"),
                "status": np.where(rec["status"] == CLOSED, "closed", "open"),
                "entry_date": index[entry],
                "exit_date": index[exit_],
                "size": rec["size"],
                "entry_price": rec["entry_price"],
                "exit_price": rec["exit_price"],
                "entry_fees": rec["entry_fees"],
                "exit_fees": rec["exit_fees"],
                "fees": rec["entry_fees"] + rec["exit_fees"],
                "pnl": rec["pnl"],
                "return": rec["return"],
                "bars": exit_ - entry,
            }
        )

    # ------------------------------------------------------------------ reports
    def stats(self, trials: TrialSet | None = None, *, n_trials: int | None = None) -> pd.Series:
        """Performance summary (``quantrl.stats.performance.summary_stats``) as a Series.

        ``trials`` (a ``TrialSet``: how many configurations were tried and the variance of their
        per-period Sharpe ratios) deflates the Sharpe ratio; default one trial. ``n_trials=1``
        is still accepted; more trials need their Sharpe variance, so they go through
        ``trials``.
        """
        if n_trials is not None:
            if trials is not None:
                raise ConfigError("pass trials or n_trials, not both")
            if isinstance(n_trials, bool) or n_trials != 1:
                raise ConfigError(
                    f"n_trials={n_trials!r}: the deflated Sharpe ratio over several trials needs "
                    "their Sharpe variance; pass trials=TrialSet.from_returns(...) or "
                    "TrialSet.from_sharpes(...)"
                )
        performance = summary_stats(
            self.returns,
            benchmark=self.benchmark_returns,
            weights=self.weights,
            periods_per_year=self.periods_per_year,
            trials=trials,
        )
        return pd.concat([performance, self.trade_stats()])  # vectorbt's rows appended

    def trade_stats(self) -> pd.Series:
        """vectorbt's portfolio statistics (``Portfolio.stats()``) not in the performance summary.

        Start, End, Period (calendar span; bars without dates), Start value, End value,
        Benchmark return (with a benchmark), Max gross exposure (max of sum |w|), Total fees
        paid, Total trades (closed and open round trips), Total closed trades, Total open trades,
        Open trade PnL, then over closed round trips: Win rate, Best trade, Worst trade, Avg
        winning trade, Avg losing trade (returns), their durations in bars, Profit factor (gross
        wins over gross losses) and Expectancy (mean PnL per trade). Fractions, not percent.
        """
        rec = self.round_trip_records
        closed = rec[rec["status"] == CLOSED]
        opened = rec[rec["status"] != CLOSED]
        pnl, ret = closed["pnl"], closed["return"]
        bars = (closed["exit_bar"] - closed["entry_bar"]).astype(np.float64)
        wins, losses = pnl > 0, pnl < 0
        n = len(closed)
        gross = np.abs(np.nan_to_num(self.weights)).sum(axis=1)
        out: dict[str, Any] = {}
        if self.dates is not None and self.n_bars:
            start, end = pd.Timestamp(self.dates[0]), pd.Timestamp(self.dates[-1])
            out.update({"Start": start, "End": end, "Period": end - start})
        else:
            out.update({"Start": 0, "End": self.n_bars - 1, "Period": self.n_bars})
        out["Start value"] = float(self.init_cash)
        out["End value"] = float(self.equity[-1])
        if self.benchmark_returns is not None:
            out["Benchmark return"] = float(np.prod(1.0 + self.benchmark_returns) - 1.0)
        out["Max gross exposure"] = float(gross.max()) if gross.size else np.nan
        out["Total fees paid"] = self.total_fees
        out["Total trades"] = len(rec)
        out["Total closed trades"] = n
        out["Total open trades"] = len(opened)
        out["Open trade PnL"] = float(opened["pnl"].sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            win_rate = wins.sum() / n if n else np.nan
            loss_rate = losses.sum() / n if n else np.nan
            gain, loss = pnl[wins].sum(), -pnl[losses].sum()
            out["Win rate"] = float(win_rate)
            out["Best trade"] = float(ret.max()) if n else np.nan
            out["Worst trade"] = float(ret.min()) if n else np.nan
            out["Avg winning trade"] = _mean(ret[wins])
            out["Avg losing trade"] = _mean(ret[losses])
            out["Avg winning trade duration (bars)"] = _mean(bars[wins])
            out["Avg losing trade duration (bars)"] = _mean(bars[losses])
            out["Profit factor"] = float(gain / loss) if n else np.nan
            avg_win = _mean(pnl[wins]) if wins.any() else 0.0
            avg_loss = _mean(pnl[losses]) if losses.any() else 0.0
            out["Expectancy"] = (
                float(win_rate * avg_win - loss_rate * abs(avg_loss)) if n else np.nan
            )
        return pd.Series(out, dtype=object, name="trades")

    # ------------------------------------------------------------------ notebooks
    def _span(self) -> str:
        if self.dates is None or not self.n_bars:
            return f"{self.n_bars} bars"
        return f"{self.n_bars} bars {format_value(self.dates[0])}..{format_value(self.dates[-1])}"

    def __repr__(self) -> str:
        """One bounded line: kind, shape, span, total return, Sharpe, drawdown, fills."""
        with np.errstate(all="ignore"):
            sharpe = sharpe_ratio(self.returns, periods_per_year=self.periods_per_year)
            dd = max_drawdown(self.returns)
        kind = self.spec.get("kind", "backtest")
        return (
            f"BacktestResult({kind}: {len(self.symbols)} symbols x {self._span()}, "
            f"total return {format_percent(self.total_return)}, "
            f"Sharpe {format_value(sharpe, 3)}, max drawdown {format_percent(dd)}, "
            f"{len(self.trades)} fills, fees {format_value(self.total_fees, 2)})"
        )

    def _repr_html_(self) -> str:
        """A small table of key statistics for Jupyter (never the arrays)."""
        stats = self.stats()
        rows = [(k, _cell(k, stats[k])) for k in REPR_ROWS if k in stats.index]
        head = (
            f"BacktestResult ({self.spec.get('kind', 'backtest')}): {len(self.symbols)} symbols"
            f" x {self._span()}, {len(self.trades)} fills"
        )
        return summary_html(head, rows, "stats(), round_trips(), to_pandas(), plot()")

    def _index(self) -> Any:

        if self.dates is None:
            return pd.RangeIndex(self.n_bars, name="bar")
        return pd.DatetimeIndex(self.dates, name="date")

    def to_pandas(self, kind: str = "summary") -> pd.DataFrame:
        """Frames: ``"summary"`` (equity, cash, returns, costs, turnover per bar),
        ``"positions"``, ``"weights"`` (one column per symbol), ``"trades"`` (one row per fill)
        or ``"round_trips"`` (``round_trips()``)."""

        index = self._index()
        if kind == "summary":
            frame = pd.DataFrame(
                {
                    "equity": self.equity,
                    "cash": self.cash,
                    "returns": self.returns,
                    "fees": self.fees_paid,
                    "slippage": self.slippage_paid,
                    "turnover": self.turnover,
                },
                index=index,
            )
            if self.benchmark_returns is not None:
                frame["benchmark_returns"] = self.benchmark_returns
            return frame
        if kind == "positions":
            return pd.DataFrame(self.positions, index=index, columns=list(self.symbols))
        if kind == "weights":
            return pd.DataFrame(self.weights, index=index, columns=list(self.symbols))
        if kind == "trades":
            frame = pd.DataFrame(self.trades)
            frame.insert(0, "date", index[frame["bar"].to_numpy()])
            frame.insert(2, "symbol", np.asarray(self.symbols, dtype=object)[frame["asset"]])
            frame["side"] = np.where(frame["side"] == 0, "buy", "sell")
            return frame
        if kind == "round_trips":
            return self.round_trips()
        raise ConfigError(
            "kind must be 'summary', 'positions', 'weights', 'trades' or 'round_trips', "
            f"got {kind!r}"
        )

    def plot(self, top: int = 10) -> Figure:
        """Figure with equity (and benchmark), drawdown, and the ``top`` largest weights."""

        x = self._index()
        fig = Figure(figsize=(10, 9))
        axes = fig.subplots(3, 1, sharex=True)
        axes[0].plot(x, self.equity, label="strategy")
        if self.benchmark_returns is not None:
            bench = self.init_cash * np.cumprod(1.0 + self.benchmark_returns)
            axes[0].plot(x, bench, label="benchmark", alpha=0.8)
        axes[0].set_ylabel("equity")
        axes[0].legend(loc="upper left")
        peak = np.maximum.accumulate(self.equity)
        axes[1].fill_between(x, self.equity / peak - 1.0, 0.0, color="tab:red", alpha=0.4)
        axes[1].set_ylabel("drawdown")
        w = np.nan_to_num(self.weights)
        order = np.argsort(-np.abs(w).mean(axis=0))[:top]
        for j in order:
            axes[2].plot(x, w[:, j], label=self.symbols[j], lw=0.8)
        axes[2].set_ylabel("weight")
        if len(order):
            axes[2].legend(loc="upper left", fontsize="small", ncol=min(5, len(order)))
        fig.tight_layout()
        return fig

    def to_vectorbt(self) -> Any:
        """The equivalent ``vectorbt.Portfolio`` (same targets or signals, costs and timing).

        Weights map to ``from_orders(size_type="targetpercent", cash_sharing=True,
        group_by=True, call_seq="auto")`` with the fill prices and the valuation prices quantrl
        used; signals map to ``from_signals`` with one column per sleeve, grouped without cash
        sharing. A rebalance threshold or a delisting liquidation has no vectorbt equivalent.
        """
        import vectorbt as vbt

        spec = self.spec
        index = self._index() if self.dates is not None else pd.RangeIndex(self.n_bars)
        cols = list(self.symbols)
        close = pd.DataFrame(self.close, index=index, columns=cols)
        price = pd.DataFrame(self.exec_prices, index=index, columns=cols)
        freq: Any = self.freq
        if freq is None and self.dates is not None:  # the median bar spacing (1 day for daily)
            freq = pd.Timedelta(bar_spacing(self.dates)) if self.n_bars > 1 else "1D"
        if spec.get("delisting") == "liquidate" and (spec["delist_bar"] < self.n_bars).any():
            raise ConfigError("delisting='liquidate' has no vectorbt equivalent")
        common = {
            "fees": spec["fees"],
            "fixed_fees": spec["fixed_fees"],
            "slippage": spec["slippage"],
            "freq": freq,
        }
        if spec["kind"] == "weights":
            if spec["rebalance_threshold"] > 0:
                raise ConfigError("rebalance_threshold has no vectorbt equivalent")
            # valuation price before trading: the latest known of fill price and close
            inter = np.empty((2 * self.n_bars, len(cols)))
            inter[0::2] = self.exec_prices
            inter[1::2] = self.close
            val = ffill_rows(inter)[0::2]
            return vbt.Portfolio.from_orders(
                close,
                size=pd.DataFrame(spec["targets"], index=index, columns=cols),
                size_type="targetpercent",
                price=price,
                val_price=pd.DataFrame(val, index=index, columns=cols),
                init_cash=self.init_cash,
                cash_sharing=True,
                group_by=True,
                call_seq="auto",
                **common,
            )
        if spec["kind"] == "signals":
            entries, exits, short_entries, short_exits = (
                pd.DataFrame(a, index=index, columns=cols) for a in spec["signals"]
            )
            size = spec["size"]
            sizing = {"size": np.inf} if size == 1.0 else {"size": size, "size_type": "percent"}
            return vbt.Portfolio.from_signals(
                close,
                entries,
                exits,
                short_entries=short_entries,
                short_exits=short_exits,
                price=price,
                init_cash=self.init_cash / len(cols),
                group_by=True,
                cash_sharing=False,
                **sizing,
                **common,
            )
        raise ConfigError(f"unknown backtest kind {spec.get('kind')!r}")
