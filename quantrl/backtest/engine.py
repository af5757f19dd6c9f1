"""Backtest engine: ``run_weights`` and ``run_signals``, a thin typed API over the numba kernels.

Timing (the no-look-ahead rule): row t of a decision array (target weights or signals) is decided
with data up to the close of bar t and fills at bar t + ``lag``: at that bar's open
(``execution="next_open"``, the default) or its close (``"next_close"``). ``lag=0`` fills at the
same close t that the decision saw; it exists only to reproduce peers such as vectorbt, whose
``Portfolio.from_orders`` / ``from_signals`` trade at the close of the signal bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from quantrl.backtest.result import BacktestResult
from quantrl.data.frequency import infer_periods_per_year
from quantrl.data.panel import Panel
from quantrl.errors import ConfigError, DataError
from quantrl.kernels.portfolio import (
    DEFAULT_MIN_SIZE,
    TRADE_DTYPE,
    first_bad_price_nb,
    scan_weights_nb,
    simulate_signals_nb,
    simulate_weights_nb,
)

Execution = Literal["next_open", "next_close"]
Delisting = Literal["freeze", "liquidate"]

_LEVERAGE_TOL = 1e-9


@dataclass(frozen=True)
class MarketArrays:
    """Prices a backtest needs: dates (T,) or None, symbols, close (T, N), open (T, N) or None."""

    dates: np.ndarray | None
    symbols: tuple[str, ...]
    close: np.ndarray
    open: np.ndarray | None
    warmup: int = 0

    def without_warmup(self) -> MarketArrays:
        """The same prices without the leading history-only rows."""
        w = self.warmup
        if w == 0:
            return self
        return MarketArrays(
            None if self.dates is None else self.dates[w:],
            self.symbols,
            self.close[w:],
            None if self.open is None else self.open[w:],
        )


def market_arrays(panel_or_prices: Any, open_prices: Any = None) -> MarketArrays:
    """Extract and validate close (and open) prices from a Panel, DataFrame, Series or array."""
    dates = None
    opens = None
    warmup = 0
    if isinstance(panel_or_prices, Panel):
        panel = panel_or_prices
        if "close" not in panel.fields:
            raise DataError("the panel has no 'close' field", rule="field missing")
        close = np.asarray(panel["close"], dtype=np.float64)
        if "open" in panel.fields:
            opens = np.asarray(panel["open"], dtype=np.float64)
        dates = np.asarray(panel.dates)
        symbols = panel.symbols
        warmup = panel.warmup
    else:
        close, dates, symbols = _to_2d(panel_or_prices, "prices")
    if open_prices is not None:
        if _is_frame(open_prices):
            open_prices = _align_frame(open_prices, tuple(symbols), dates, "open_prices")
        opens, _, _ = _to_2d(open_prices, "open_prices")
        if opens.shape != close.shape:
            raise ConfigError(
                f"open_prices has shape {opens.shape}, expected the close shape {close.shape}"
            )
    if close.shape[0] - warmup <= 0 or close.shape[1] == 0:
        raise DataError(
            f"no prices to backtest: shape {close.shape} (dates, symbols)", rule="empty panel"
        )
    _check_prices(close, "close", dates, symbols)
    if opens is not None:
        _check_prices(opens, "open", dates, symbols)
    return MarketArrays(dates, tuple(symbols), close, opens, warmup)


def _index_dates(index: pd.DatetimeIndex) -> np.ndarray:
    """datetime64[ns] of a DatetimeIndex; a time-zone-aware index keeps its local wall time."""
    if index.tz is not None:
        index = index.tz_localize(None)
    return index.to_numpy().astype("datetime64[ns]")


def _is_frame(obj: Any) -> bool:
    return hasattr(obj, "columns") and hasattr(obj, "to_numpy") and hasattr(obj, "index")


def _named_columns(obj: Any) -> bool:
    """False for a frame whose columns carry no names (the default 0..N-1 RangeIndex)."""
    return not isinstance(obj.columns, pd.RangeIndex)


def _to_2d(obj: Any, name: str) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    dates = None
    symbols: tuple[str, ...] | None = None
    if hasattr(obj, "to_numpy") and hasattr(obj, "index"):  # pandas Series / DataFrame
        if isinstance(obj.index, pd.DatetimeIndex):
            dates = _index_dates(obj.index)
        if hasattr(obj, "columns"):
            symbols = tuple(str(c) for c in obj.columns)
            if len(set(symbols)) != len(symbols):
                dup = sorted({s for s in symbols if symbols.count(s) > 1})
                raise ConfigError(f"{name} has duplicated column(s) {', '.join(dup[:10])}")
        else:
            symbols = (str(obj.name) if obj.name is not None else "asset",)
        try:
            values = obj.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be numeric: {exc}") from exc
    else:
        try:
            values = np.asarray(obj, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be numeric, got {type(obj).__name__}") from exc
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ConfigError(f"{name} must be 1-D or 2-D (dates, symbols), got shape {values.shape}")
    if symbols is None:
        symbols = tuple(f"asset_{j}" for j in range(values.shape[1]))
    return np.ascontiguousarray(values), dates, symbols


def _check_prices(
    prices: np.ndarray, name: str, dates: np.ndarray | None, symbols: tuple[str, ...]
) -> None:
    i, j = first_bad_price_nb(prices)
    if i >= 0:
        raise DataError(
            f"{name} price {prices[i, j]} is not a positive finite number (row {i})",
            rule="non-positive price",
            symbol=symbols[j],
            date=None if dates is None else dates[i],
        )


def _number(name: str, value: Any) -> float:
    """``value`` as a finite float; anything else (text, booleans, NaN, inf) -> ConfigError."""
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    out = float(value)
    if not np.isfinite(out):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return out


def _check_costs(fees: float, fixed_fees: float, slippage: float, init_cash: float) -> None:
    """Costs shared by every backtest: ``fees``/``slippage`` fractions in [0, 1), fixed fees >= 0."""
    for name, value in (("fees", fees), ("slippage", slippage)):
        x = _number(name, value)
        if not 0 <= x < 1:
            raise ConfigError(f"{name} must be a fraction in [0, 1), got {value}")
    if _number("fixed_fees", fixed_fees) < 0:
        raise ConfigError(f"fixed_fees must be a finite number >= 0, got {fixed_fees}")
    if _number("init_cash", init_cash) <= 0:
        raise ConfigError(f"init_cash must be a finite number > 0, got {init_cash}")


def _check_positive(name: str, value: Any) -> float:
    x = _number(name, value)
    if x <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value}")
    return x


def _periods_per_year(value: float | None, mkt: MarketArrays) -> float:
    """``value`` checked, or inferred from the dates (``quantrl.data.frequency``; 252 without)."""
    if value is None:
        return infer_periods_per_year(mkt.dates)
    return _check_positive("periods_per_year", value)


def _check_timing(execution: str, lag: int, has_open: bool) -> None:
    if execution not in ("next_open", "next_close"):
        raise ConfigError(f"execution must be 'next_open' or 'next_close', got {execution!r}")
    if isinstance(lag, bool | np.bool_) or not isinstance(lag, int | np.integer) or lag < 0:
        raise ConfigError(f"lag must be an integer >= 0, got {lag!r}")
    if lag > 0 and execution == "next_open" and not has_open:
        raise ConfigError(
            "execution='next_open' needs open prices: pass a Panel with an 'open' field, "
            "open_prices=..., or execution='next_close'"
        )


def _listing(names: list[str], limit: int = 10) -> str:
    return ", ".join(names[:limit]) + (
        f" and {len(names) - limit} more" if len(names) > limit else ""
    )


def _align_frame(obj: Any, symbols: tuple[str, ...], dates: np.ndarray | None, name: str) -> Any:
    """A DataFrame reordered to ``symbols`` (by column name) and ``dates`` (by DatetimeIndex).

    Columns must name exactly the symbols (unknown or missing ones raise ConfigError); a frame
    with the default 0..N-1 columns carries no names and keeps its column order. A DatetimeIndex
    must hold exactly the price dates (any order); another index keeps its row order.
    """
    if _named_columns(obj):
        cols = [str(c) for c in obj.columns]
        if len(set(cols)) != len(cols):
            dup = sorted({c for c in cols if cols.count(c) > 1})
            raise ConfigError(f"{name} has duplicated column(s) {_listing(dup)}")
        known = set(symbols)
        unknown = [c for c in cols if c not in known]
        missing = [s for s in symbols if s not in set(cols)]
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"unknown column(s) {_listing(unknown)}")
            if missing:
                parts.append(f"no column for symbol(s) {_listing(missing)}")
            raise ConfigError(
                f"{name} columns must name the symbols ({_listing(list(symbols))}): "
                + "; ".join(parts)
                + " (pass a numpy array to match by position)"
            )
        if cols != list(symbols):
            lookup = dict(zip(cols, obj.columns, strict=True))
            obj = obj[[lookup[s] for s in symbols]]
    if dates is not None and isinstance(obj.index, pd.DatetimeIndex):
        own = _index_dates(obj.index)
        if not np.array_equal(own, dates):
            if own.size != np.unique(own).size:
                raise ConfigError(f"{name} index has duplicated dates")
            extra = np.setdiff1d(own, dates)
            absent = np.setdiff1d(dates, own)
            if extra.size or absent.size:
                detail = []
                if absent.size:
                    detail.append(
                        f"{absent.size} price date(s) missing, first {str(absent[0])[:19]}"
                    )
                if extra.size:
                    detail.append(f"{extra.size} unknown date(s), first {str(extra[0])[:19]}")
                raise ConfigError(
                    f"{name} index does not match the price dates: " + "; ".join(detail)
                )
            obj = obj.iloc[np.argsort(own, kind="stable")]
    return obj


def _frame_values(obj: Any) -> np.ndarray:
    """Values of a pandas object: float64 (missing -> NaN) when every column is numeric."""
    dtypes = list(obj.dtypes) if hasattr(obj, "dtypes") and hasattr(obj, "columns") else [obj.dtype]
    if dtypes and all(
        pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d) for d in dtypes
    ):
        return obj.to_numpy(dtype=np.float64, na_value=np.nan)
    return obj.to_numpy()


def _decision_array(obj: Any, mkt: MarketArrays, name: str) -> np.ndarray:
    """A (T, N) decision array; DataFrame columns are matched to the symbols by name."""
    shape = mkt.close.shape
    if _is_frame(obj):
        obj = _align_frame(obj, mkt.symbols, mkt.dates, name)
    elif hasattr(obj, "index") and hasattr(obj, "to_numpy") and mkt.dates is not None:
        if isinstance(obj.index, pd.DatetimeIndex) and not np.array_equal(
            _index_dates(obj.index), mkt.dates
        ):
            raise ConfigError(f"{name} index does not match the price dates")
    values = _frame_values(obj) if hasattr(obj, "to_numpy") else np.asarray(obj)
    if values.ndim == 1 and shape[1] == 1:
        values = values[:, None]
    if values.shape != shape:
        raise ConfigError(f"{name} has shape {values.shape}, expected (dates, symbols) = {shape}")
    return values[mkt.warmup :]


def _where(mkt: MarketArrays, i: int, j: int) -> str:
    """'row i (date), symbol s' of a decision-array cell (rows counted after the warm-up)."""
    text = f"row {i}"
    if mkt.dates is not None:
        text += f" ({str(mkt.dates[mkt.warmup + i])[:10]})"
    return f"{text}, symbol {mkt.symbols[j]}"


def _shown(x: Any) -> str:
    """repr of a cell, numpy scalars as plain Python values (0.5, not np.float64(0.5))."""
    return repr(x.item() if isinstance(x, np.generic) else x)


def _is_real(x: Any) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(
        x, bool | np.bool_
    )


def _numeric_weights(values: np.ndarray, mkt: MarketArrays, name: str) -> np.ndarray:
    """Weights as float64; text, booleans and other non-numbers -> ConfigError naming the cell."""
    kind = values.dtype.kind
    if kind in "iuf":
        return np.ascontiguousarray(values, dtype=np.float64)
    if kind == "O":
        ok = np.frompyfunc(lambda x: _is_real(x) or x is None, 1, 1)(values).astype(bool)
        if ok.all():
            return np.ascontiguousarray(
                np.where(np.equal(values, None), np.nan, values), dtype=np.float64
            )
        i, j = np.argwhere(~ok)[0]
        raise ConfigError(
            f"{name} must hold numbers; found {_shown(values[i, j])} at "
            f"{_where(mkt, int(i), int(j))}"
        )
    what = "booleans (signals? use run_signals)" if kind == "b" else f"dtype {values.dtype}"
    raise ConfigError(f"{name} must hold numbers, got {what}")


def _shift(values: np.ndarray, lag: int, fill: Any) -> np.ndarray:
    if lag == 0:
        return np.ascontiguousarray(values)
    out = np.full_like(values, fill)
    if lag < values.shape[0]:
        out[lag:] = values[:-lag]
    return out


def _delist_bars(close: np.ndarray, delisting: str) -> np.ndarray:
    n_bars, n = close.shape
    out = np.full(n, n_bars, dtype=np.int64)
    if delisting == "freeze":
        return out
    if delisting != "liquidate":
        raise ConfigError(f"delisting must be 'freeze' or 'liquidate', got {delisting!r}")
    valid = ~np.isnan(close)
    has = valid.any(axis=0)
    last = n_bars - 1 - np.argmax(valid[::-1], axis=0)
    ended = has & (last < n_bars - 1)
    out[ended] = last[ended] + 1
    return out


def _exec_prices(mkt: MarketArrays, execution: str, lag: int) -> np.ndarray:
    if lag > 0 and execution == "next_open":
        assert mkt.open is not None
        return mkt.open
    return mkt.close


def _benchmark_prices(benchmark: Any, mkt: MarketArrays) -> np.ndarray | None:
    if benchmark is None:
        return None
    if isinstance(benchmark, str):
        if benchmark not in mkt.symbols:
            raise ConfigError(f"benchmark symbol {benchmark!r} is not among the backtest symbols")
        return mkt.close[mkt.warmup :, mkt.symbols.index(benchmark)].copy()
    try:
        values = np.asarray(
            benchmark.to_numpy() if hasattr(benchmark, "to_numpy") else benchmark,
            dtype=np.float64,
        ).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"benchmark must be a symbol or numeric prices: {exc}") from exc
    if values.shape[0] != mkt.close.shape[0]:
        raise ConfigError(
            f"benchmark has {values.shape[0]} rows, expected one price per date "
            f"({mkt.close.shape[0]})"
        )
    _check_prices(np.ascontiguousarray(values[:, None]), "benchmark", mkt.dates, ("benchmark",))
    return values[mkt.warmup :]


def run_weights(
    panel_or_prices: Any,
    target_weights: Any,
    *,
    fees: float = 0.001,
    fixed_fees: float = 0.0,
    slippage: float = 0.0,
    init_cash: float = 1e6,
    execution: Execution = "next_open",
    lag: int = 1,
    rebalance_threshold: float = 0.0,
    max_leverage: float = 1.0,
    delisting: Delisting = "freeze",
    benchmark: Any = None,
    open_prices: Any = None,
    periods_per_year: float | None = None,
    freq: str | None = None,
) -> BacktestResult:
    """Rebalance a cash-sharing portfolio to target weights; returns a ``BacktestResult``.

    ``panel_or_prices`` is a ``Panel`` (its ``open``/``close`` fields are used) or (T, N) close
    prices (array, DataFrame or Series; pass ``open_prices=`` for ``next_open``); a panel's
    ``warmup`` rows are history only: their decisions are dropped and the backtest starts after
    them. A DataFrame of weights is matched to the symbols by column name (unknown or missing
    columns raise ConfigError; default 0..N-1 columns and numpy arrays are positional) and, with
    a DatetimeIndex, to the price dates (which it must hold exactly, in any order). Row t of
    ``target_weights`` (T, N) gives target fractions of portfolio value decided at the close of
    bar t; negative weights are shorts and the gross weight sum |w| of a row may not exceed
    ``max_leverage``; longs are paid from cash, including the proceeds of shorts sold earlier in
    the bar (no margin loan: a long book beyond that is partly filled). **NaN means "no target": that asset is not traded on that bar and keeps its
    position** (an all-NaN row skips the bar); inf is an error.

    Fills happen at bar t + ``lag``, at its open (``execution="next_open"``) or close
    (``"next_close"``). ``lag=0`` fills at the close of the decision bar itself: it looks ahead
    and exists ONLY to reproduce peers -- with ``lag=0`` the equity equals vectorbt's
    ``Portfolio.from_orders(size_type="targetpercent", cash_sharing=True, group_by=True,
    call_seq="auto")`` to machine precision.

    Costs: ``fees`` (fraction of notional, in [0, 1)) plus ``fixed_fees`` (>= 0) per order;
    ``slippage`` (a fraction in [0, 1)) moves the fill price against the order. Orders that
    reduce positions run before those that add; a buy that lacks cash is partly filled. Assets
    whose current weight is within ``rebalance_threshold`` of the target are not traded. A NaN
    price means the asset cannot trade that bar and its position is carried at the last price.
    An asset whose prices end before the panel does is ``delisting="freeze"`` (default, as vectorbt: the position stays, valued at the
    last price) or ``"liquidate"`` (closed at the last price on the first bar without one; this
    uses the data's knowledge that no price follows, as a delisting notice would).

    Statistics are annualised with ``periods_per_year`` bars a year; by default it is inferred
    from the dates (``quantrl.data.frequency.infer_periods_per_year``: 252 for daily bars, 365
    for daily bars that trade on weekends, bars per day x 252 or x 365 for intraday bars, e.g.
    525,600 for crypto minutes), and 252 when prices carry no dates.
    """
    mkt = market_arrays(panel_or_prices, open_prices)
    bench = _benchmark_prices(benchmark, mkt)
    _check_costs(fees, fixed_fees, slippage, init_cash)
    _check_timing(execution, lag, mkt.open is not None)
    if _number("rebalance_threshold", rebalance_threshold) < 0:
        raise ConfigError(f"rebalance_threshold must be >= 0, got {rebalance_threshold}")
    _check_positive("max_leverage", max_leverage)
    periods_per_year = _periods_per_year(periods_per_year, mkt)
    weights = _decision_array(target_weights, mkt, "target_weights")
    weights = _numeric_weights(weights, mkt, "target_weights")
    mkt = mkt.without_warmup()
    _check_weights(weights, max_leverage, mkt)
    targets = _shift(weights, int(lag), np.nan)
    exec_prices = _exec_prices(mkt, execution, int(lag))
    delist = _delist_bars(mkt.close, delisting)
    n_bars, n_assets = mkt.close.shape
    cash = np.empty(n_bars)
    equity = np.empty(n_bars)
    positions = np.empty((n_bars, n_assets))
    trades = np.empty(n_bars * n_assets + n_assets, dtype=TRADE_DTYPE)
    n_trades = simulate_weights_nb(
        np.ascontiguousarray(exec_prices),
        np.ascontiguousarray(mkt.close),
        np.ascontiguousarray(targets),
        float(init_cash),
        float(fees),
        float(fixed_fees),
        float(slippage),
        DEFAULT_MIN_SIZE,
        float(rebalance_threshold),
        delist,
        cash,
        equity,
        positions,
        trades,
    )
    return BacktestResult(
        dates=mkt.dates,
        symbols=mkt.symbols,
        equity=equity,
        cash=cash,
        positions=positions,
        close=mkt.close,
        exec_prices=exec_prices,
        trades=trades[:n_trades].copy() if 2 * n_trades < trades.shape[0] else trades[:n_trades],
        init_cash=float(init_cash),
        benchmark_prices=bench,
        periods_per_year=float(periods_per_year),
        freq=freq,
        spec={
            "kind": "weights",
            "targets": targets,
            "fees": float(fees),
            "fixed_fees": float(fixed_fees),
            "slippage": float(slippage),
            "execution": execution,
            "lag": int(lag),
            "rebalance_threshold": float(rebalance_threshold),
            "delisting": delisting,
            "delist_bar": delist,
        },
    )


def _check_weights(weights: np.ndarray, max_leverage: float, mkt: MarketArrays) -> None:
    i, j, gross = scan_weights_nb(weights)
    if i >= 0:
        raise ConfigError(
            f"target_weights has an infinite value at row {i}, symbol {mkt.symbols[j]}"
            + (f", date {str(mkt.dates[i])[:10]}" if mkt.dates is not None else "")
        )
    over = np.flatnonzero(gross > max_leverage + _LEVERAGE_TOL)
    if over.size:
        i = int(over[0])
        raise ConfigError(
            f"gross leverage {gross[i]:.6g} above max_leverage={max_leverage} at row {i}"
            + (f" ({str(mkt.dates[i])[:10]})" if mkt.dates is not None else "")
            + f"; {over.size} row(s) exceed the cap"
        )


def _is_flag(x: Any) -> bool:
    """True for a boolean or a number equal to 0 or 1 (never text, None or NaN)."""
    return isinstance(x, bool | np.bool_) or (_is_real(x) and (x == 0 or x == 1))


def _signal_array(obj: Any, mkt: MarketArrays, name: str) -> np.ndarray:
    """Boolean signals: booleans, or numbers that are all 0/1; anything else -> ConfigError."""
    if obj is None:
        return np.zeros((mkt.close.shape[0] - mkt.warmup, mkt.close.shape[1]), dtype=np.bool_)
    values = np.asarray(_decision_array(obj, mkt, name))
    kind = values.dtype.kind
    if kind == "b":
        return values
    if kind == "f" and np.isnan(values).any():
        i, j = np.argwhere(np.isnan(values))[0]
        raise ConfigError(
            f"{name} contains NaN at {_where(mkt, int(i), int(j))}; signals must be boolean"
        )
    if kind in "iuf":
        ok = (values == 0) | (values == 1)
    elif kind == "O":
        ok = np.frompyfunc(_is_flag, 1, 1)(values).astype(bool)
    else:
        raise ConfigError(f"{name} must be boolean (True/False or 0/1), got dtype {values.dtype}")
    if not ok.all():
        i, j = np.argwhere(~ok)[0]
        raise ConfigError(
            f"{name} must be boolean (True/False or 0/1); found {_shown(values[i, j])} at "
            f"{_where(mkt, int(i), int(j))}"
        )
    return values.astype(np.bool_)


def run_signals(
    panel_or_prices: Any,
    entries: Any,
    exits: Any,
    *,
    short_entries: Any = None,
    short_exits: Any = None,
    size: float = 1.0,
    fees: float = 0.001,
    fixed_fees: float = 0.0,
    slippage: float = 0.0,
    init_cash: float = 1e6,
    execution: Execution = "next_open",
    lag: int = 1,
    delisting: Delisting = "freeze",
    benchmark: Any = None,
    open_prices: Any = None,
    periods_per_year: float | None = None,
    freq: str | None = None,
) -> BacktestResult:
    """Per-asset long/flat/short signal strategy; returns a ``BacktestResult``.

    Each asset trades its own sleeve of ``init_cash / N``. ``entries``/``exits`` (T, N) booleans
    open/close longs, ``short_entries``/``short_exits`` shorts. ``size`` in (0, 1] is the fraction
    of the sleeve's cash spent on an entry (1.0 = all of it). Signals must be booleans or numbers
    that are all 0/1 (NaN, text such as "False" and other values raise ConfigError); DataFrames
    are aligned by column name and date as in ``run_weights``. Semantics mirror vectorbt's
    ``Portfolio.from_signals`` defaults: an entry and an exit of one direction on the same bar
    cancel; entries do not add to an open position; an opposite entry reverses the position. With
    ``lag=0`` (fills at the signal bar's close; for peer reproduction only) each sleeve equals
    ``from_signals(close, entries, exits, init_cash=init_cash / N)`` with ``size=np.inf`` (or
    ``size_type="percent"`` for size < 1). Timing, costs, delisting and ``periods_per_year``
    (inferred from the dates by default) as in ``run_weights``.
    """
    mkt = market_arrays(panel_or_prices, open_prices)
    bench = _benchmark_prices(benchmark, mkt)
    _check_costs(fees, fixed_fees, slippage, init_cash)
    _check_timing(execution, lag, mkt.open is not None)
    if not 0 < _number("size", size) <= 1:
        raise ConfigError(f"size must be a fraction of cash in (0, 1], got {size}")
    periods_per_year = _periods_per_year(periods_per_year, mkt)
    arrays = [
        _shift(_signal_array(a, mkt, n), int(lag), False)
        for a, n in (
            (entries, "entries"),
            (exits, "exits"),
            (short_entries, "short_entries"),
            (short_exits, "short_exits"),
        )
    ]
    mkt = mkt.without_warmup()
    n_assets = mkt.close.shape[1]
    sleeve = np.full(n_assets, float(init_cash) / n_assets)
    exec_prices = _exec_prices(mkt, execution, int(lag))
    delist = _delist_bars(mkt.close, delisting)
    shape = mkt.close.shape
    cash, equity, positions = np.empty(shape), np.empty(shape), np.empty(shape)
    trades = np.empty(2 * shape[0] * shape[1] + shape[1], dtype=TRADE_DTYPE)
    n_trades = simulate_signals_nb(
        np.ascontiguousarray(exec_prices),
        np.ascontiguousarray(mkt.close),
        *[np.ascontiguousarray(a) for a in arrays],
        sleeve,
        float(size),
        float(fees),
        float(fixed_fees),
        float(slippage),
        DEFAULT_MIN_SIZE,
        delist,
        cash,
        equity,
        positions,
        trades,
    )
    trades = trades[:n_trades]
    trades = trades[np.lexsort((trades["asset"], trades["bar"]))]
    return BacktestResult(
        dates=mkt.dates,
        symbols=mkt.symbols,
        equity=equity.sum(axis=1),
        cash=cash.sum(axis=1),
        positions=positions,
        close=mkt.close,
        exec_prices=exec_prices,
        trades=trades,
        init_cash=float(init_cash),
        benchmark_prices=bench,
        periods_per_year=float(periods_per_year),
        freq=freq,
        spec={
            "kind": "signals",
            "signals": arrays,
            "size": float(size),
            "fees": float(fees),
            "fixed_fees": float(fixed_fees),
            "slippage": float(slippage),
            "execution": execution,
            "lag": int(lag),
            "delisting": delisting,
            "delist_bar": delist,
            "sleeve_equity": equity,
        },
    )
