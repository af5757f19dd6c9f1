"""Round trips from fills: vectorbt 1.2's exit trades (``Portfolio.trades``), per asset.

A position opens with the first fill while flat; fills in its direction add to it (the entry
price is the size-weighted average of the entry fills, entry fees accumulate); each fill against
it closes a trade of the fill's size (or of the whole position), at the fill price, with a
pro-rata share of the entry fees, and the remaining position keeps its average price. A fill
larger than the position closes it and opens the opposite one with the rest (its fees split by
size). A position still held at the end is an open trade valued at ``last_price`` without exit
fees. PnL = ``size * (exit - entry)`` (negated for shorts) minus entry and exit fees; return =
PnL / ``(size * entry price)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quantrl.kernels.fills import SIDE_BUY, add_nb, is_close_nb, is_close_or_less_nb, is_less_nb

LONG = 0
SHORT = 1
OPEN = 0
CLOSED = 1

ROUND_TRIP_DTYPE = np.dtype(
    [
        ("asset", np.int32),
        ("size", np.float64),
        ("entry_bar", np.int32),
        ("entry_price", np.float64),
        ("entry_fees", np.float64),
        ("exit_bar", np.int32),
        ("exit_price", np.float64),
        ("exit_fees", np.float64),
        ("pnl", np.float64),
        ("return", np.float64),
        ("direction", np.int8),
        ("status", np.int8),
        ("position", np.int32),
    ]
)
"""Round-trip record: asset, size, entry/exit bar, price and fees, PnL, return, direction
(0 long, 1 short), status (0 open, 1 closed) and the id of the position it belongs to -- the
fields of vectorbt's exit-trade records."""


@njit(cache=True)
def _write_nb(
    out: np.ndarray,
    k: int,
    asset: int,
    size: float,
    entry_bar: int,
    entry_price: float,
    entry_fees: float,
    exit_bar: int,
    exit_price: float,
    exit_fees: float,
    direction: int,
    status: int,
    position: int,
) -> None:
    entry_value = size * entry_price
    diff = add_nb(size * exit_price, -entry_value)
    if diff != 0 and direction == SHORT:
        diff = -diff
    pnl = diff - entry_fees - exit_fees
    rec = out[k]
    rec["asset"] = asset
    rec["size"] = size
    rec["entry_bar"] = entry_bar
    rec["entry_price"] = entry_price
    rec["entry_fees"] = entry_fees
    rec["exit_bar"] = exit_bar
    rec["exit_price"] = exit_price
    rec["exit_fees"] = exit_fees
    rec["pnl"] = pnl
    rec["return"] = pnl / entry_value
    rec["direction"] = direction
    rec["status"] = status
    rec["position"] = position


@njit(cache=True)
def round_trips_nb(
    bar: np.ndarray,
    asset: np.ndarray,
    size: np.ndarray,
    price: np.ndarray,
    fees: np.ndarray,
    side: np.ndarray,
    last_bar: int,
    last_price: np.ndarray,
    out: np.ndarray,
) -> int:
    """Fill ``out`` (ROUND_TRIP_DTYPE, at least len(bar) + N rows) from fills sorted by asset,
    then time; return the number of round trips written."""
    k = 0
    position = -1
    n = bar.shape[0]
    i = 0
    while i < n:
        a = asset[i]
        held = False
        direction = LONG
        entry_bar = 0
        entry_size = 0.0
        entry_gross = 0.0
        entry_fees = 0.0
        while i < n and asset[i] == a:
            t, q, p, f = bar[i], size[i], price[i], fees[i]
            buying = side[i] == SIDE_BUY
            i += 1
            if not held:
                held = True
                entry_bar = t
                direction = LONG if buying else SHORT
                position += 1
                entry_size = 0.0
                entry_gross = 0.0
                entry_fees = 0.0
            if buying == (direction == LONG):
                entry_size += q
                entry_gross += q * p
                entry_fees += f
            elif is_close_or_less_nb(q, entry_size):
                closed = is_close_nb(q, entry_size)
                exit_size = entry_size if closed else q
                _write_nb(
                    out,
                    k,
                    a,
                    exit_size,
                    entry_bar,
                    entry_gross / entry_size,
                    exit_size / entry_size * entry_fees,
                    t,
                    p,
                    f,
                    direction,
                    CLOSED,
                    position,
                )
                k += 1
                if closed:
                    held = False
                else:
                    keep = (entry_size - q) / entry_size
                    entry_size *= keep
                    entry_gross *= keep
                    entry_fees *= keep
            else:
                exit_fees = entry_size / q * f
                _write_nb(
                    out,
                    k,
                    a,
                    entry_size,
                    entry_bar,
                    entry_gross / entry_size,
                    entry_fees,
                    t,
                    p,
                    exit_fees,
                    direction,
                    CLOSED,
                    position,
                )
                k += 1
                entry_size = q - entry_size
                entry_gross = entry_size * p
                entry_fees = f - exit_fees
                entry_bar = t
                direction = SHORT if direction == LONG else LONG
                position += 1
        if held and is_less_nb(-entry_size, 0.0):
            _write_nb(
                out,
                k,
                a,
                entry_size,
                entry_bar,
                entry_gross / entry_size,
                entry_fees,
                last_bar,
                last_price[a],
                0.0,
                direction,
                OPEN,
                position,
            )
            k += 1
    return k
