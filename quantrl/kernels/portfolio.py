"""Account kernels: rebalance a cash-sharing portfolio to target weights, run signal strategies.

The single-bar steps (``rebalance_bar_nb``, ``signal_step_nb``) are the one accounting step of
quantrl: the backtester loops over them and the trading environments call them bar by bar, so an
environment and a backtest on the same data agree exactly.

Account layout shared by every kernel here:

* ``account``: float64 (2,) = ``[cash, free_cash]`` (``free_cash`` is cash not tied up as short
  margin; it only matters for sizing short entries), mutated in place;
* ``positions`` / ``debts``: float64 (N,) units held (negative = short) and the entry value of
  short positions, mutated in place;
* ``trades``: a ``TRADE_DTYPE`` record array written from index ``n_trades`` on; each kernel
  returns the new count.

Fills follow vectorbt 1.2 exactly (see ``quantrl.kernels.fills``); the call order inside a bar
is vectorbt's ``call_seq="auto"``: orders sorted by approximate value, so sells run before buys.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quantrl.kernels.fills import (
    BOTH,
    FILLED,
    LONG_ONLY,
    SHORT_ONLY,
    order_nb,
    snap_zero_nb,
)

TRADE_DTYPE = np.dtype(
    [
        ("bar", np.int32),
        ("asset", np.int32),
        ("size", np.float64),
        ("price", np.float64),
        ("fees", np.float64),
        ("side", np.int8),
    ]
)
"""Trade record: bar index, asset index, filled units (> 0), fill price (after slippage), fees
paid, side (0 = buy, 1 = sell) -- the fields of vectorbt's order records."""

DEFAULT_MIN_SIZE = 1e-8
"""Fills smaller than this many units are rejected (vectorbt's default ``min_size``)."""


@njit(cache=True)
def portfolio_value_nb(cash: float, positions: np.ndarray, prices: np.ndarray) -> float:
    """Cash plus the value of every non-zero position at ``prices``."""
    value = cash
    for j in range(positions.shape[0]):
        if positions[j] != 0:
            value += positions[j] * prices[j]
    return value


@njit(cache=True)
def _before_nb(a: float, b: float) -> bool:
    """Strict order with NaN last."""
    if np.isnan(b):
        return not np.isnan(a)
    return a < b


@njit(cache=True)
def stable_argsort_nb(values: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> None:
    """Stable ascending argsort of ``values`` into ``out`` (NaN last); ``tmp`` is scratch.

    Bottom-up merge sort on index buffers, so no allocation: equal values keep their index
    order, which is the order vectorbt's insertion sort produces for non-NaN values.
    """
    n = values.shape[0]
    for i in range(n):
        out[i] = i
    src = out
    dst = tmp
    in_out = True
    width = 1
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                if _before_nb(values[src[j]], values[src[i]]):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
            lo = hi
        src, dst = dst, src
        in_out = not in_out
        width *= 2
    if not in_out:
        for i in range(n):
            out[i] = src[i]


@njit(cache=True)
def _record_nb(
    trades: np.ndarray,
    n_trades: int,
    bar: int,
    asset: int,
    size: float,
    price: float,
    fees: float,
    side: int,
) -> int:
    if n_trades >= trades.shape[0]:
        raise IndexError("trade record buffer is full")
    rec = trades[n_trades]
    rec["bar"] = bar
    rec["asset"] = asset
    rec["size"] = size
    rec["price"] = price
    rec["fees"] = fees
    rec["side"] = side
    return n_trades + 1


@njit(cache=True, inline="always")
def _fill_nb(
    bar: int,
    j: int,
    cash: float,
    free_cash: float,
    positions: np.ndarray,
    debts: np.ndarray,
    size: float,
    price: float,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    trades: np.ndarray,
    n_trades: int,
) -> tuple[float, float, int]:
    """One target order for asset j; returns the new cash, free cash and trade count.

    Cash travels as values, not through the account array, so it stays in registers for the bar.
    """
    cash, free_cash, pos, debt, f_size, f_price, f_fees, side, status = order_nb(
        cash,
        free_cash,
        positions[j],
        debts[j],
        size,
        price,
        BOTH,
        fees,
        fixed_fees,
        slippage,
        min_size,
        np.nan,
    )
    positions[j] = pos
    debts[j] = debt
    if status == FILLED:
        n_trades = _record_nb(trades, n_trades, bar, j, f_size, f_price, f_fees, side)
    return cash, free_cash, n_trades


_MAX_TAIL = 32
_CASH_MARGIN = 1e-10

WORK_ROWS = 5
"""Rows of the float64 (WORK_ROWS, N) scratch array that ``rebalance_bar_nb`` works in: order
values, order sizes, cash needs, set-aside flags and the set-aside list. The caller allocates it
once (per backtest or per environment), so no bar allocates anything."""
_W_ORDER = 0
_W_SIZE = 1
_W_NEED = 2
_W_IN_TAIL = 3
_W_TAIL = 4


@njit(cache=True)
def rebalance_bar_nb(
    bar: int,
    account: np.ndarray,
    positions: np.ndarray,
    debts: np.ndarray,
    val_prices: np.ndarray,
    order_prices: np.ndarray,
    targets: np.ndarray,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    threshold: float,
    trades: np.ndarray,
    n_trades: int,
    work: np.ndarray,
) -> int:
    """Rebalance the shared-cash account to target weights at one bar; returns the trade count.

    ``targets[j]`` is the target fraction of portfolio value in asset j (negative = short); NaN
    means no order for j. ``order_prices[j]`` is the fill price before slippage (NaN: j cannot
    trade this bar, its position is kept); ``val_prices[j]`` values positions and converts target
    value to units (the last known price). The portfolio value is taken once, before any order.
    Assets whose weight is already within ``threshold`` of the target are not traded. ``work``
    is a (``WORK_ROWS``, N) float64 scratch array owned by the caller.

    Orders run as vectorbt's auto call sequence does (ascending approximate order value: sells
    first, the largest buys last), so the buys that meet a cash shortfall and their partial fills
    are exactly vectorbt's. Orders whose place in that sequence cannot change a fill (every sell,
    and the buys that fit in the cash whatever their order) run in asset order, which only
    reorders floating-point additions to cash; only the buys at the cash limit are sorted.
    """
    n = positions.shape[0]
    value = portfolio_value_nb(account[0], positions, val_prices)
    clean_value = snap_zero_nb(value)
    if np.isnan(clean_value) or clean_value <= 0:
        return n_trades
    order_value = work[_W_ORDER]
    sizes = work[_W_SIZE]
    need = work[_W_NEED]
    in_tail = work[_W_IN_TAIL]
    tail = work[_W_TAIL]
    cash = account[0]  # the account lives in registers during the bar, written back at the end
    free_cash = account[1]
    total = 0.0
    n_buys = 0
    largest = -1  # the last order of the sequence: largest value, the later asset on ties
    for j in range(n):
        in_tail[j] = 0.0
        need[j] = 0.0
        tgt = targets[j]
        val = val_prices[j]
        asset_value = positions[j] * val
        if threshold > 0 and not np.isnan(tgt):
            if abs(tgt - asset_value / value) < threshold:
                tgt = np.nan
        ov = tgt * value - asset_value
        price = order_prices[j]
        if np.isnan(tgt) or np.isnan(price) or np.isnan(val):
            order_value[j] = np.nan
            continue
        order_value[j] = ov
        size = tgt * clean_value
        size = size / val
        size = size - snap_zero_nb(positions[j])
        sizes[j] = size
        if ov < 0:
            # a sell is never limited by cash: its place in the sequence changes no fill
            cash, free_cash, n_trades = _fill_nb(
                bar,
                j,
                cash,
                free_cash,
                positions,
                debts,
                size,
                price,
                fees,
                fixed_fees,
                slippage,
                min_size,
                trades,
                n_trades,
            )
            continue
        if largest < 0 or ov >= order_value[largest]:
            largest = j
        if size > 0:
            # cash this buy needs (the arithmetic of buy_nb)
            req = size * (price * (1.0 + slippage))
            need[j] = req + (req * fees + fixed_fees)
            total += need[j]
            n_buys += 1
    # the largest buys (last in the sequence) are set aside until the rest surely fit
    n_tail = 0
    while total > cash * (1.0 - _CASH_MARGIN) - 1e-9 and n_tail < n_buys:
        if n_tail == _MAX_TAIL:
            n_tail = -1
            break
        best = largest
        if n_tail > 0:
            best = -1
            for j in range(n):
                if order_value[j] >= 0 and in_tail[j] == 0.0:
                    if best < 0 or order_value[j] >= order_value[best]:
                        best = j
        in_tail[best] = 1.0
        tail[n_tail] = best
        n_tail += 1
        total -= need[best]
    if n_tail < 0:
        # a deep shortfall: run every buy in the exact sequence
        call_seq = np.empty(n, dtype=np.int64)
        scratch = np.empty(n, dtype=np.int64)
        stable_argsort_nb(order_value, call_seq, scratch)
        for k in range(n):
            j = call_seq[k]
            if order_value[j] >= 0:
                cash, free_cash, n_trades = _fill_nb(
                    bar,
                    j,
                    cash,
                    free_cash,
                    positions,
                    debts,
                    sizes[j],
                    order_prices[j],
                    fees,
                    fixed_fees,
                    slippage,
                    min_size,
                    trades,
                    n_trades,
                )
        account[0] = cash
        account[1] = free_cash
        return n_trades
    for j in range(n):
        if order_value[j] >= 0 and in_tail[j] == 0.0:
            cash, free_cash, n_trades = _fill_nb(
                bar,
                j,
                cash,
                free_cash,
                positions,
                debts,
                sizes[j],
                order_prices[j],
                fees,
                fixed_fees,
                slippage,
                min_size,
                trades,
                n_trades,
            )
    for k in range(n_tail - 1, -1, -1):
        j = int(tail[k])
        cash, free_cash, n_trades = _fill_nb(
            bar,
            j,
            cash,
            free_cash,
            positions,
            debts,
            sizes[j],
            order_prices[j],
            fees,
            fixed_fees,
            slippage,
            min_size,
            trades,
            n_trades,
        )
    account[0] = cash
    account[1] = free_cash
    return n_trades


@njit(cache=True)
def simulate_weights_nb(
    exec_prices: np.ndarray,
    close: np.ndarray,
    targets: np.ndarray,
    init_cash: float,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    threshold: float,
    delist_bar: np.ndarray,
    cash_out: np.ndarray,
    equity_out: np.ndarray,
    pos_out: np.ndarray,
    trades: np.ndarray,
) -> int:
    """Run ``rebalance_bar_nb`` over every bar; rows of ``targets`` already aligned to fills.

    ``exec_prices[t]`` are the fill prices at bar t (NaN: no trade), ``close[t]`` marks the
    portfolio at the end of bar t. The mark of an asset is its latest known price: the fill price
    when it trades, then the close; a NaN carries the last one. ``delist_bar[j]`` (>= T for
    none) is the first bar after the asset's last price: from there its position is closed at the
    last price, with the usual fees and slippage.
    Fills the caller's buffers ``cash_out`` (T,), ``equity_out`` (T,), ``pos_out`` (T, N) and
    ``trades`` (at least T * N + N records; numpy-allocated buffers are faster to fill than ones
    allocated here) and returns the number of trades.
    """
    n_bars, n = close.shape
    account = np.array([init_cash, init_cash])
    positions = np.zeros(n)
    debts = np.zeros(n)
    mark = np.full(n, np.nan)
    row_prices = np.empty(n)
    row_targets = np.empty(n)
    work = np.empty((WORK_ROWS, n))
    n_trades = 0
    for t in range(n_bars):
        any_order = False
        delisted = False
        for j in range(n):
            p = exec_prices[t, j]
            if not np.isnan(p):
                mark[j] = p
                if not np.isnan(targets[t, j]):
                    any_order = True
            if t == delist_bar[j] and positions[j] != 0:
                delisted = True
        prices_t = exec_prices[t]
        targets_t = targets[t]
        if delisted:
            # close delisted positions at their last price: copies of the rows with overrides
            for j in range(n):
                row_prices[j] = exec_prices[t, j]
                row_targets[j] = targets[t, j]
                if t == delist_bar[j] and positions[j] != 0:
                    row_prices[j] = mark[j]
                    row_targets[j] = 0.0
                    any_order = True
            prices_t = row_prices
            targets_t = row_targets
        if any_order:
            n_trades = rebalance_bar_nb(
                t,
                account,
                positions,
                debts,
                mark,
                prices_t,
                targets_t,
                fees,
                fixed_fees,
                slippage,
                min_size,
                threshold,
                trades,
                n_trades,
                work,
            )
        equity = account[0]
        for j in range(n):
            c = close[t, j]
            if not np.isnan(c):
                mark[j] = c
            pos = positions[j]
            pos_out[t, j] = pos
            if pos != 0:
                equity += pos * mark[j]
        cash_out[t] = account[0]
        equity_out[t] = equity
    return n_trades


@njit(cache=True)
def plan_signal_orders_nb(
    position: float,
    long_entry: bool,
    long_exit: bool,
    short_entry: bool,
    short_exit: bool,
    size: float,
) -> tuple[int, float, float, int, float, float, int]:
    """Turn one bar's signals into at most two orders (vectorbt ``from_signals`` defaults).

    Returns ``(n_orders, size0, percent0, direction0, size1, percent1, direction1)`` where a
    signed size of +-inf with a percent means "that fraction of everything available".
    """
    le = long_entry
    lx = long_exit
    se = short_entry
    sx = short_exit
    if le or se:
        if le and lx:
            le = False
            lx = False
        if se and sx:
            se = False
            sx = False
        if le and se:
            le = False
            se = False
    nan = np.nan
    if position > 0:
        if se:
            if size == 1.0:
                return 1, -np.inf, 1.0, BOTH, nan, nan, BOTH
            return 2, -abs(position), nan, LONG_ONLY, -np.inf, size, BOTH
        if lx:
            return 1, -abs(position), nan, LONG_ONLY, nan, nan, BOTH
    elif position < 0:
        if le:
            if size == 1.0:
                return 1, np.inf, nan, BOTH, nan, nan, BOTH
            return 2, abs(position), nan, SHORT_ONLY, np.inf, size, BOTH
        if sx:
            return 1, abs(position), nan, SHORT_ONLY, nan, nan, BOTH
    else:
        if le:
            return 1, np.inf, size, BOTH, nan, nan, BOTH
        if se:
            return 1, -np.inf, size, BOTH, nan, nan, BOTH
    return 0, nan, nan, BOTH, nan, nan, BOTH


@njit(cache=True)
def signal_step_nb(
    bar: int,
    j: int,
    account: np.ndarray,
    positions: np.ndarray,
    debts: np.ndarray,
    price: float,
    long_entry: bool,
    long_exit: bool,
    short_entry: bool,
    short_exit: bool,
    size: float,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    trades: np.ndarray,
    n_trades: int,
) -> int:
    """Apply one bar of long/short entry/exit signals to asset ``j``; returns the trade count.

    Mirrors vectorbt's ``from_signals`` defaults: an entry and an exit of the same direction on
    one bar cancel, as do a long and a short entry; entries do not add to an open position; an
    exit closes it; an opposite entry reverses it. ``size`` is the fraction of available cash
    spent on an entry (1.0 = all of it, vectorbt's ``size=np.inf``); a reversal closes the
    position and re-enters with that fraction (one order when ``size == 1``, as vectorbt does).
    """
    if np.isnan(price):
        return n_trades
    n_orders, s0, p0, d0, s1, p1, d1 = plan_signal_orders_nb(
        positions[j], long_entry, long_exit, short_entry, short_exit, size
    )
    sizes = (s0, s1)
    percents = (p0, p1)
    directions = (d0, d1)
    cash = account[0]
    free_cash = account[1]
    for k in range(n_orders):
        cash, free_cash, p, d, f_size, f_price, f_fees, side, status = order_nb(
            cash,
            free_cash,
            positions[j],
            debts[j],
            sizes[k],
            price,
            directions[k],
            fees,
            fixed_fees,
            slippage,
            min_size,
            percents[k],
        )
        positions[j] = p
        debts[j] = d
        if status == FILLED:
            n_trades = _record_nb(trades, n_trades, bar, j, f_size, f_price, f_fees, side)
    account[0] = cash
    account[1] = free_cash
    return n_trades


@njit(cache=True)
def simulate_signals_nb(
    exec_prices: np.ndarray,
    close: np.ndarray,
    long_entries: np.ndarray,
    long_exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
    init_cash: np.ndarray,
    size: float,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    delist_bar: np.ndarray,
    cash_out: np.ndarray,
    equity_out: np.ndarray,
    pos_out: np.ndarray,
    trades: np.ndarray,
) -> int:
    """Run ``signal_step_nb`` over every bar, each asset its own sleeve with ``init_cash[j]``.

    Signal rows are already aligned to the fill bar. Fills the caller's (T, N) buffers
    ``cash_out``, ``equity_out`` (positions marked at the latest known price), ``pos_out`` and
    ``trades`` (at least 2 * T * N + N records) and returns the number of trades.
    """
    n_bars, n = close.shape
    n_trades = 0
    account = np.empty(2)
    positions = np.zeros(1)
    debts = np.zeros(1)
    for j in range(n):
        account[0] = init_cash[j]
        account[1] = init_cash[j]
        positions[0] = 0.0
        debts[0] = 0.0
        mark = np.nan
        for t in range(n_bars):
            p = exec_prices[t, j]
            if not np.isnan(p):
                mark = p
            if t == delist_bar[j] and positions[0] != 0:
                # delisted: close the position at the last known price
                start = n_trades
                n_trades = signal_step_nb(
                    t,
                    0,
                    account,
                    positions,
                    debts,
                    mark,
                    False,
                    positions[0] > 0,
                    False,
                    positions[0] < 0,
                    1.0,
                    fees,
                    fixed_fees,
                    slippage,
                    min_size,
                    trades,
                    n_trades,
                )
                for k in range(start, n_trades):
                    trades[k]["asset"] = j
            elif not np.isnan(p):
                start = n_trades
                n_trades = signal_step_nb(
                    t,
                    0,
                    account,
                    positions,
                    debts,
                    p,
                    long_entries[t, j],
                    long_exits[t, j],
                    short_entries[t, j],
                    short_exits[t, j],
                    size,
                    fees,
                    fixed_fees,
                    slippage,
                    min_size,
                    trades,
                    n_trades,
                )
                for k in range(start, n_trades):
                    trades[k]["asset"] = j
            c = close[t, j]
            if not np.isnan(c):
                mark = c
            cash_out[t, j] = account[0]
            pos_out[t, j] = positions[0]
            if positions[0] != 0:
                equity_out[t, j] = account[0] + positions[0] * mark
            else:
                equity_out[t, j] = account[0]
    return n_trades


@njit(cache=True)
def scan_weights_nb(weights: np.ndarray) -> tuple[int, int, np.ndarray]:
    """One pass over (T, N) weights: first infinite cell (row, col; -1 if none) and the NaN-skipping
    gross sum |w| of each row."""
    n_bars, n = weights.shape
    gross = np.zeros(n_bars)
    bad_i = -1
    bad_j = -1
    for i in range(n_bars):
        g = 0.0
        for j in range(n):
            x = weights[i, j]
            if np.isinf(x):
                if bad_i < 0:
                    bad_i = i
                    bad_j = j
            elif not np.isnan(x):
                g += abs(x)
        gross[i] = g
    return bad_i, bad_j, gross


@njit(cache=True)
def first_bad_price_nb(prices: np.ndarray) -> tuple[int, int]:
    """(row, col) of the first infinite or non-positive price in (T, N), or (-1, -1)."""
    n_bars, n = prices.shape
    for i in range(n_bars):
        for j in range(n):
            x = prices[i, j]
            if np.isinf(x) or x <= 0:
                return i, j
    return -1, -1
