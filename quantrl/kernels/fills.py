"""Per-order fill math: buy / sell one asset against a cash account (numba).

The arithmetic follows vectorbt 1.2's ``buy_nb`` / ``sell_nb`` (``lock_cash=False``,
``allow_partial=True``, no size granularity) operation for operation, so that a backtest built on
these functions reproduces vectorbt's fills to the last bit:

* slippage moves the fill price against the trader: ``price * (1 + slippage)`` when buying,
  ``price * (1 - slippage)`` when selling;
* fees are ``notional * fees + fixed_fees`` per order;
* a buy that needs more cash than available is shrunk so that notional plus fees equals the cash
  (partial fill); a sell is never limited by cash (short selling is allowed unless the direction
  says otherwise);
* fills smaller than ``min_size`` are rejected.

Every function returns the new account state and the fill; nothing is mutated.
"""

from __future__ import annotations

import numpy as np
from numba import njit

REL_TOL = 1e-9
ABS_TOL = 1e-12

# order directions (same codes as vectorbt's Direction)
LONG_ONLY = 0
SHORT_ONLY = 1
BOTH = 2

# fill sides (same codes as vectorbt's OrderSide)
SIDE_BUY = 0
SIDE_SELL = 1

# order status
FILLED = 0
IGNORED = 1
REJECTED = 2


@njit(cache=True)
def is_close_nb(a: float, b: float) -> bool:
    """True when ``a`` and ``b`` are equal within 1e-9 relative / 1e-12 absolute tolerance."""
    # written so that the common finite case takes one comparison; NaN fails it, and an
    # infinite operand passes it only to be refused by the last line
    if not abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL):
        return a == b and not np.isinf(a)
    return not (np.isinf(a) or np.isinf(b))


@njit(cache=True)
def is_close_or_less_nb(a: float, b: float) -> bool:
    """True when ``a`` is approximately less than or equal to ``b``."""
    if is_close_nb(a, b):
        return True
    return a < b


@njit(cache=True)
def is_less_nb(a: float, b: float) -> bool:
    """True when ``a`` is less than ``b`` and not approximately equal to it."""
    if is_close_nb(a, b):
        return False
    return a < b


@njit(cache=True)
def add_nb(a: float, b: float) -> float:
    """``a + b``, snapped to exactly 0.0 when the sum is zero within tolerance."""
    if np.sign(a) != np.sign(b):
        if is_close_nb(abs(a), abs(b)):
            return 0.0
    elif is_close_nb(a + b, 0.0):
        return 0.0
    return a + b


@njit(cache=True)
def snap_zero_nb(x: float) -> float:
    """``x`` with values within tolerance of zero replaced by 0.0."""
    # is_close_nb(x, 0.0) reduces to |x| <= ABS_TOL: the relative bound 1e-9 |x| never covers
    # |x| itself, and NaN or inf fail the comparison
    if abs(x) <= ABS_TOL:
        return 0.0
    return x


@njit(cache=True)
def buy_nb(
    cash: float,
    free_cash: float,
    position: float,
    debt: float,
    size: float,
    price: float,
    direction: int,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    percent: float,
) -> tuple[float, float, float, float, float, float, float, int]:
    """Buy (or cover) ``size`` units at ``price``; returns state and fill.

    Returns ``(cash, free_cash, position, debt, fill_size, fill_price, fees_paid, status)``.
    ``size`` may be ``inf`` (spend all cash); ``percent`` (NaN for none) caps the cash used to a
    fraction of the available cash.
    """
    adj_price = price * (1.0 + slippage)
    cash_limit = cash
    if not np.isnan(percent):
        cash_limit = min(cash_limit, percent * cash_limit)
    if direction == LONG_ONLY or direction == BOTH:
        if cash_limit == 0:
            return cash, free_cash, position, debt, np.nan, np.nan, np.nan, REJECTED
    else:
        if position == 0:
            return cash, free_cash, position, debt, np.nan, np.nan, np.nan, REJECTED
    if direction == SHORT_ONLY:
        adj_size = min(-position, size)
    else:
        adj_size = size
    if adj_size == 0:
        return cash, free_cash, position, debt, np.nan, np.nan, np.nan, IGNORED

    req_cash = adj_size * adj_price
    req_fees = req_cash * fees + fixed_fees
    total_req_cash = req_cash + req_fees
    if is_close_or_less_nb(total_req_cash, cash_limit):
        final_size = adj_size
        fees_paid = req_fees
        final_req_cash = total_req_cash
    else:
        max_req_cash = add_nb(cash_limit, -fixed_fees) / (1.0 + fees)
        if max_req_cash <= 0:
            return cash, free_cash, position, debt, np.nan, np.nan, np.nan, REJECTED
        final_size = max_req_cash / adj_price
        fees_paid = cash_limit - max_req_cash
        final_req_cash = cash_limit
    if is_close_nb(adj_size, 0.0):
        return cash, free_cash, position, debt, np.nan, np.nan, np.nan, IGNORED
    if is_less_nb(final_size, min_size):
        return cash, free_cash, position, debt, np.nan, np.nan, np.nan, REJECTED

    new_cash = add_nb(cash, -final_req_cash)
    new_position = add_nb(position, final_size)
    if position < 0:
        if new_position < 0:
            short_size = final_size
        else:
            short_size = abs(position)
        avg_entry_price = debt / abs(position)
        debt_diff = short_size * avg_entry_price
        new_debt = add_nb(debt, -debt_diff)
        new_free_cash = add_nb(free_cash + 2 * debt_diff, -final_req_cash)
    else:
        new_debt = debt
        new_free_cash = add_nb(free_cash, -final_req_cash)
    return new_cash, new_free_cash, new_position, new_debt, final_size, adj_price, fees_paid, FILLED


@njit(cache=True)
def sell_nb(
    cash: float,
    free_cash: float,
    position: float,
    debt: float,
    size: float,
    price: float,
    direction: int,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    percent: float,
) -> tuple[float, float, float, float, float, float, float, int]:
    """Sell (or short) ``size`` units at ``price``; returns state and fill.

    Returns ``(cash, free_cash, position, debt, fill_size, fill_price, fees_paid, status)``.
    With ``size=inf`` and a ``percent``, sells that fraction of everything that can be sold: the
    long position plus the largest short the free cash can margin.
    """
    adj_price = price * (1.0 - slippage)
    if direction == LONG_ONLY:
        size_limit = min(position, size)
    elif np.isinf(size) and not np.isnan(percent):
        long_size = max(position, 0.0)
        long_cash = long_size * adj_price * (1.0 - fees)
        total_free_cash = add_nb(free_cash, long_cash)
        if total_free_cash <= 0:
            if position <= 0:
                return cash, free_cash, position, debt, np.nan, np.nan, np.nan, REJECTED
            max_size_limit = long_size
        else:
            max_short_size = add_nb(total_free_cash, -fixed_fees) / (adj_price * (1.0 + fees))
            max_size_limit = add_nb(long_size, max_short_size)
            if max_size_limit <= 0:
                return cash, free_cash, position, debt, np.nan, np.nan, np.nan, REJECTED
        size_limit = max_size_limit
    else:
        size_limit = size
    if not np.isnan(percent):
        size_limit = percent * size_limit
    if direction == LONG_ONLY and position == 0:
        return cash, free_cash, position, debt, np.nan, np.nan, np.nan, REJECTED
    if is_close_nb(size_limit, 0.0):
        return cash, free_cash, position, debt, np.nan, np.nan, np.nan, IGNORED
    if is_less_nb(size_limit, min_size):
        return cash, free_cash, position, debt, np.nan, np.nan, np.nan, REJECTED

    acq_cash = size_limit * adj_price
    fees_paid = acq_cash * fees + fixed_fees
    final_acq_cash = add_nb(acq_cash, -fees_paid)
    if final_acq_cash < 0:
        return cash, free_cash, position, debt, np.nan, np.nan, np.nan, REJECTED
    new_cash = cash + final_acq_cash
    new_position = add_nb(position, -size_limit)
    if new_position < 0:
        if position < 0:
            short_size = size_limit
        else:
            short_size = abs(new_position)
        short_value = short_size * adj_price
        new_debt = debt + short_value
        new_free_cash = add_nb(free_cash, add_nb(final_acq_cash, -2 * short_value))
    else:
        new_debt = debt
        new_free_cash = free_cash + final_acq_cash
    return new_cash, new_free_cash, new_position, new_debt, size_limit, adj_price, fees_paid, FILLED


@njit(cache=True)
def order_nb(
    cash: float,
    free_cash: float,
    position: float,
    debt: float,
    size: float,
    price: float,
    direction: int,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    percent: float,
) -> tuple[float, float, float, float, float, float, float, int, int]:
    """Signed order: ``size > 0`` buys, ``size <= 0`` sells ``-size``; NaN size/price is ignored.

    Returns ``(cash, free_cash, position, debt, fill_size, fill_price, fees_paid, side, status)``.
    State values within tolerance of zero are snapped to 0.0 first (as vectorbt does).
    """
    cash = snap_zero_nb(cash)
    position = snap_zero_nb(position)
    debt = snap_zero_nb(debt)
    free_cash = snap_zero_nb(free_cash)
    if np.isnan(size) or np.isnan(price):
        return cash, free_cash, position, debt, np.nan, np.nan, np.nan, -1, IGNORED
    if size > 0:
        c, fc, p, d, fs, fp, fee, st = buy_nb(
            cash,
            free_cash,
            position,
            debt,
            size,
            price,
            direction,
            fees,
            fixed_fees,
            slippage,
            min_size,
            percent,
        )
        return c, fc, p, d, fs, fp, fee, SIDE_BUY, st
    c, fc, p, d, fs, fp, fee, st = sell_nb(
        cash,
        free_cash,
        position,
        debt,
        -size,
        price,
        direction,
        fees,
        fixed_fees,
        slippage,
        min_size,
        percent,
    )
    return c, fc, p, d, fs, fp, fee, SIDE_SELL, st
