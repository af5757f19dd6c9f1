"""Strategies on a split with history: the history is read, never traded, and carried over."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from quantrl.backtest import run_weights
from quantrl.backtest.compare import (
    DEFAULT_HISTORY,
    carry_history,
    compare,
    required_history,
    run_strategy,
    strategy_lookback,
)
from quantrl.data.splits import market_split
from quantrl.errors import ConfigError
from strategies import get_strategy


@dataclass
class Fixed:
    """Replays a fixed weights array (whatever the panel)."""

    weights: np.ndarray
    lookback: int = 0

    def target_weights(self, panel):
        return self.weights


@pytest.fixture(scope="module")
def small(dow30):
    """Eight DOW30 names, 2019-2021, cut at 2021-01-01 with 100 history rows before it."""
    panel = dow30.slice("2019-01-01", "2021-12-31").select(
        ["AAPL", "MSFT", "KO", "JPM", "CVX", "WMT", "IBM", "MRK"]
    )
    _, _, test = panel.split("2020-06-01", "2021-01-01", warmup=100)
    return test


def _hand_carry(weights: np.ndarray, warmup: int) -> np.ndarray:
    """Reference: each column's last finite history value fills row ``warmup`` where it is NaN."""
    out = weights.copy()
    for j in range(weights.shape[1]):
        last = np.nan
        for i in range(warmup):
            if np.isfinite(weights[i, j]):
                last = weights[i, j]
        if np.isnan(out[warmup, j]):
            out[warmup, j] = last
    return out


def test_carry_history_fills_only_the_first_segment_row_where_undecided(rng):
    w = np.full((8, 3), np.nan)
    w[1] = [0.2, 0.3, np.nan]
    w[3, 0] = 0.5
    w[4, 1] = 0.1  # the segment's first row decides asset 1 itself
    out = carry_history(w, 4)
    np.testing.assert_array_equal(out[4], [0.5, 0.1, np.nan])
    np.testing.assert_array_equal(out[:4], w[:4], strict=True)
    np.testing.assert_array_equal(out[5:], w[5:])
    random = np.where(rng.random((30, 5)) < 0.3, rng.random((30, 5)), np.nan)
    np.testing.assert_array_equal(carry_history(random, 12), _hand_carry(random, 12))
    assert carry_history(w, 0) is w
    frame = pd.DataFrame(w, columns=list("abc"))
    assert list(carry_history(frame, 4).iloc[4].fillna(-1)) == [0.5, 0.1, -1]


def test_history_rows_carry_no_trades_and_no_returns(small):
    strategy = get_strategy("min_variance", window=60, every=21)
    res = run_strategy(strategy, small, fees=0.001)
    seg = small.segment_dates
    assert np.array_equal(res.dates, seg)
    assert res.equity.shape == (seg.size,)
    assert res.trades.size and res.trades["bar"].min() >= 1  # decided at row 0's close at best
    assert res.equity[0] == res.init_cash and np.nan_to_num(res.returns[0]) == 0


def test_run_strategy_equals_run_weights_on_the_segment_with_carried_targets(small):
    strategy = get_strategy("ma_crossover", fast=5, slow=30)
    weights = strategy.target_weights(small)
    w = small.warmup
    got = run_strategy(strategy, small, fees=0.002)
    bare = small.replace(warmup=0).slice(small.dates[w], small.dates[-1])
    expected = run_weights(bare, _hand_carry(weights, w)[w:], fees=0.002)
    np.testing.assert_array_equal(got.equity, expected.equity)
    # without the carry the crossover would sit in cash until a signal changes
    dropped = run_weights(small, weights, fees=0.002)
    assert not np.array_equal(dropped.equity, got.equity)
    held = np.flatnonzero(np.abs(np.nan_to_num(got.weights)).sum(axis=1) > 0)
    assert held.size and held[0] == 1


def test_momentum_uses_history_to_trade_in_the_first_month(dow30):
    with_history = market_split(dow30, "test", warmup=252)
    bare = market_split(dow30, "test")
    mom = get_strategy("momentum")
    active = run_strategy(mom, with_history).weights[:21]
    assert (np.abs(np.nan_to_num(active)).sum(axis=1)[1:] > 0.99).all()
    flat = run_strategy(mom, bare).weights[:21]
    assert np.abs(np.nan_to_num(flat)).sum() == 0  # no history: nothing to rank on for a year


def test_future_prices_do_not_move_the_past_with_history(small):
    cut = small.warmup + 40
    fields = {k: v.copy() for k, v in small.fields.items()}
    for k in ("open", "high", "low", "close"):
        fields[k][cut + 1 :] *= 1.7
    moved = small.replace(fields=fields)
    strategy = get_strategy("risk_parity", window=40, every=10)
    a = run_strategy(strategy, small).equity
    b = run_strategy(strategy, moved).equity
    k = cut - small.warmup
    np.testing.assert_array_equal(a[: k + 1], b[: k + 1])
    assert not np.array_equal(a, b)


def test_required_history_is_the_largest_lookback_and_at_least_a_year():
    names = ["equal_weight", "min_variance", "ma_crossover"]
    assert required_history([get_strategy(n) for n in names]) == DEFAULT_HISTORY == 252
    assert required_history([get_strategy("momentum", lookback=300)]) == 300
    assert required_history([get_strategy("max_sharpe", window=400)], minimum=0) == 400
    assert required_history([object()], minimum=10) == 10  # declares nothing
    assert strategy_lookback(Fixed(np.zeros((1, 1)), lookback=7)) == 7
    with pytest.raises(ConfigError, match="lookback"):
        strategy_lookback(Fixed(np.zeros((1, 1)), lookback=-1))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="minimum history"):
        required_history([], minimum=-5)


def test_compare_is_run_strategy_for_each(small):
    names = ["equal_weight", "bollinger"]
    results = compare({n: get_strategy(n) for n in names}, small, fees=0.001)
    for n in names:
        alone = run_strategy(get_strategy(n), small, fees=0.001)
        np.testing.assert_array_equal(results[n].equity, alone.equity)
    with pytest.raises(ConfigError, match="no strategies"):
        compare({}, small)
