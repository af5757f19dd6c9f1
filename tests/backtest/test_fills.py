"""Per-order fill math against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.kernels.fills import (
    BOTH,
    FILLED,
    IGNORED,
    LONG_ONLY,
    REJECTED,
    SIDE_BUY,
    SIDE_SELL,
    add_nb,
    is_close_nb,
    order_nb,
)

NAN = float("nan")


def order(
    cash,
    pos,
    size,
    price,
    *,
    fees=0.0,
    fixed=0.0,
    slip=0.0,
    min_size=0.0,
    direction=BOTH,
    percent=NAN,
    free_cash=None,
    debt=0.0,
):
    fc = cash if free_cash is None else free_cash
    return order_nb(
        cash, fc, pos, debt, size, price, direction, fees, fixed, slip, min_size, percent
    )


def test_buy_with_enough_cash_pays_fees_and_slippage():
    cash, fc, pos, debt, size, price, fees, side, status = order(
        1000.0, 0.0, 10.0, 20.0, fees=0.01, fixed=1.0, slip=0.005
    )
    assert status == FILLED and side == SIDE_BUY
    assert price == pytest.approx(20.0 * 1.005, rel=1e-15)
    assert size == 10.0
    assert fees == pytest.approx(10 * 20.1 * 0.01 + 1.0, rel=1e-15)
    assert cash == pytest.approx(1000 - 201.0 - 3.01, rel=1e-15)
    assert pos == 10.0 and debt == 0.0


def test_buy_without_enough_cash_is_partly_filled():
    # wants 100 units at 10 with 1% fees: needs 1010, has 1000 -> spends exactly 1000
    cash, _, pos, _, size, price, fees, _, status = order(1000.0, 0.0, 100.0, 10.0, fees=0.01)
    assert status == FILLED
    assert size == pytest.approx(1000 / 1.01 / 10, rel=1e-14)
    assert fees == pytest.approx(1000 - 1000 / 1.01, rel=1e-12)
    assert cash == 0.0
    assert pos == size


def test_sell_adds_cash_net_of_costs_and_can_go_short():
    cash, fc, pos, debt, size, price, fees, side, status = order(
        100.0, 2.0, -5.0, 10.0, fees=0.01, slip=0.01
    )
    assert status == FILLED and side == SIDE_SELL
    assert price == pytest.approx(9.9)
    assert size == 5.0 and pos == -3.0
    assert cash == pytest.approx(100 + 5 * 9.9 * 0.99)
    # the 3 units sold short are debt at the fill price; free cash loses their margin
    assert debt == pytest.approx(3 * 9.9)
    assert fc == pytest.approx(100 + 5 * 9.9 * 0.99 - 2 * 3 * 9.9)


def test_long_only_sell_never_exceeds_position():
    _, _, pos, _, size, _, _, _, status = order(0.0, 3.0, -10.0, 5.0, direction=LONG_ONLY)
    assert status == FILLED and size == 3.0 and pos == 0.0


def test_min_size_rejects_dust_and_nan_is_ignored():
    assert order(100.0, 0.0, 1e-9, 10.0, min_size=1e-8)[-1] == REJECTED
    assert order(100.0, 0.0, NAN, 10.0)[-1] == IGNORED
    assert order(100.0, 0.0, 1.0, NAN)[-1] == IGNORED
    assert order(0.0, 0.0, 1.0, 10.0)[-1] == REJECTED  # no cash to buy


def test_percent_of_cash_and_full_short():
    # buy with 50% of cash
    cash, *_rest = order(1000.0, 0.0, np.inf, 10.0, fees=0.0, percent=0.5)
    assert cash == pytest.approx(500.0)
    # short with all free cash as margin: size = free_cash / (price * (1 + fees))
    _, _, pos, _, size, _, _, _, status = order(1000.0, 0.0, -np.inf, 10.0, fees=0.01, percent=1.0)
    assert status == FILLED
    assert size == pytest.approx(1000 / (10 * 1.01))
    assert pos == -size


def test_fixed_fee_larger_than_proceeds_is_rejected():
    assert order(0.0, 1.0, -1.0, 1.0, fixed=5.0)[-1] == REJECTED


def test_tolerance_helpers():
    assert is_close_nb(1.0, 1.0 + 1e-12)
    assert not is_close_nb(1.0, 1.0 + 1e-6)
    assert add_nb(1.0, -1.0 + 1e-13) == 0.0
    assert add_nb(1.0, 2.0) == 3.0
