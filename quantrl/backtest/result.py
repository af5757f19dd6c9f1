"""BacktestResult: equity, positions, trades and costs of one backtest, with stats and plots."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from quantrl.errors import ConfigError
from quantrl.stats.performance import TrialSet, summary_stats


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
        return summary_stats(
            self.returns,
            benchmark=self.benchmark_returns,
            weights=self.weights,
            periods_per_year=self.periods_per_year,
            trials=trials,
        )

    def _index(self) -> Any:

        if self.dates is None:
            return pd.RangeIndex(self.n_bars, name="bar")
        return pd.DatetimeIndex(self.dates, name="date")

    def to_pandas(self, kind: str = "summary") -> pd.DataFrame:
        """Frames: ``"summary"`` (equity, cash, returns, costs, turnover per bar),
        ``"positions"``, ``"weights"`` (one column per symbol) or ``"trades"`` (one row each)."""

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
        raise ConfigError(
            f"kind must be 'summary', 'positions', 'weights' or 'trades', got {kind!r}"
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
        freq = self.freq or ("1D" if self.dates is not None else None)
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
