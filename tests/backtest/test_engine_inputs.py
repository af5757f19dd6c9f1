"""Backtest inputs: frames aligned by symbol name and date, strict signals, costs in range."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.backtest import run_grid, run_signals, run_weights
from quantrl.data.panel import Panel
from quantrl.errors import ConfigError, DataError

SYMBOLS = ("AAPL", "KO", "MSFT")


@pytest.fixture(scope="module")
def panel() -> Panel:
    rng = np.random.default_rng(7)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (30, 3)), axis=0))
    dates = np.datetime64("2021-01-04", "ns") + np.arange(30) * np.timedelta64(1, "D")
    return Panel(dates, SYMBOLS, {"open": close * 1.001, "close": close})


@pytest.fixture(scope="module")
def weights() -> np.ndarray:
    rng = np.random.default_rng(8)
    return rng.dirichlet(np.ones(3), 30) * 0.9


def _frame(values, panel, columns):
    return pd.DataFrame(values, index=pd.DatetimeIndex(panel.dates), columns=list(columns))


def test_weight_columns_are_matched_by_name_not_position(panel, weights):
    reference = run_weights(panel, weights)
    shuffled = _frame(weights[:, [1, 0, 2]], panel, ["KO", "AAPL", "MSFT"])
    np.testing.assert_array_equal(run_weights(panel, shuffled).equity, reference.equity)
    # the same numbers under the wrong names are a different portfolio, not a silent match
    wrong = run_weights(panel, _frame(weights, panel, ["KO", "AAPL", "MSFT"]))
    assert not np.allclose(wrong.equity, reference.equity)


def test_unknown_and_missing_columns_are_named(panel, weights):
    with pytest.raises(
        ConfigError, match=r"unknown column\(s\) ZZZ.*no column for symbol\(s\) MSFT"
    ):
        run_weights(panel, _frame(weights, panel, ["KO", "AAPL", "ZZZ"]))
    with pytest.raises(ConfigError, match=r"no column for symbol\(s\) MSFT"):
        run_weights(panel, _frame(weights[:, :2], panel, ["AAPL", "KO"]))
    with pytest.raises(ConfigError, match=r"duplicated column\(s\) KO"):
        run_weights(panel, _frame(weights, panel, ["KO", "KO", "MSFT"]))
    with pytest.raises(ConfigError, match="ZZZ"):
        run_signals(panel, _frame(weights > 0.3, panel, ["KO", "AAPL", "ZZZ"]), None)


def test_unnamed_columns_and_arrays_keep_their_positions(panel, weights):
    reference = run_weights(panel, weights)
    positional = pd.DataFrame(weights, index=pd.DatetimeIndex(panel.dates))  # columns 0, 1, 2
    np.testing.assert_array_equal(run_weights(panel, positional).equity, reference.equity)


def test_dates_are_aligned_by_index_and_must_all_be_present(panel, weights):
    reference = run_weights(panel, weights)
    frame = _frame(weights, panel, SYMBOLS)
    reversed_rows = frame.iloc[::-1]
    np.testing.assert_array_equal(run_weights(panel, reversed_rows).equity, reference.equity)
    with pytest.raises(ConfigError, match=r"1 price date\(s\) missing, first 2021-01-04"):
        run_weights(panel, frame.iloc[1:])
    shifted = frame.set_axis(frame.index + pd.Timedelta(days=1))
    with pytest.raises(ConfigError, match="unknown date"):
        run_weights(panel, shifted)


def test_price_frames_align_their_open_prices_by_name(panel, weights):
    close = _frame(np.array(panel["close"]), panel, SYMBOLS)
    opens = _frame(np.array(panel["open"]), panel, SYMBOLS)
    reference = run_weights(close, weights, open_prices=opens)
    np.testing.assert_array_equal(
        run_weights(close, weights, open_prices=opens[["MSFT", "AAPL", "KO"]]).equity,
        reference.equity,
    )
    with pytest.raises(ConfigError, match="open_prices columns"):
        run_weights(close, weights, open_prices=opens.set_axis(["A", "B", "C"], axis=1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fees": 1.0}, r"fees must be a fraction in \[0, 1\)"),
        ({"fees": 1.5}, "fees must be a fraction"),
        ({"fees": -0.001}, "fees must be a fraction"),
        ({"fees": float("nan")}, "fees must be a finite number"),
        ({"fees": "0.001"}, "fees must be a number, got '0.001'"),
        ({"fees": True}, "fees must be a number, got True"),
        ({"slippage": 1.0}, "slippage must be a fraction"),
        ({"fixed_fees": -1.0}, "fixed_fees must be a finite number >= 0"),
        ({"fixed_fees": float("inf")}, "fixed_fees must be a finite number"),
        ({"init_cash": "1e6"}, "init_cash must be a number"),
        ({"lag": True}, "lag must be an integer"),
        ({"lag": 1.0}, "lag must be an integer"),
        ({"max_leverage": "2"}, "max_leverage must be a number"),
        ({"periods_per_year": 0}, "periods_per_year must be a finite number > 0"),
        ({"rebalance_threshold": None}, "rebalance_threshold must be a number"),
    ],
)
def test_costs_and_options_out_of_range_are_config_errors(panel, weights, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        run_weights(panel, weights, **kwargs)
    if "max_leverage" not in kwargs and "rebalance_threshold" not in kwargs:
        with pytest.raises(ConfigError, match=message):
            run_signals(panel, weights > 0.3, weights < 0.1, **kwargs)
        with pytest.raises(ConfigError, match=message):
            run_grid(panel, "momentum", {"lookback": [5]}, **kwargs)


def test_fees_just_below_one_are_accepted(panel, weights):
    res = run_weights(panel, weights, fees=0.5)
    assert np.isfinite(res.equity).all() and res.equity[-1] < run_weights(panel, weights).equity[-1]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            np.array([["False"] * 3] * 30, dtype=object),
            "found 'False' at row 0 (2021-01-04), symbol AAPL",
        ),
        (np.array([["True"] * 3] * 30), "got dtype <U4"),
        (np.full((30, 3), 0.5), "found 0.5 at row 0"),
        (np.full((30, 3), 2), "found 2 at row 0"),
        (
            np.where(np.eye(30, 3) > 0, np.nan, 1.0),
            "contains NaN at row 0 (2021-01-04), symbol AAPL",
        ),
        (np.array([[True, None, False]] * 30, dtype=object), "found None at row 0"),
    ],
)
def test_signals_must_be_boolean(panel, entries, message):
    with pytest.raises(ConfigError, match="entries") as info:
        run_signals(panel, entries, None)
    assert message in str(info.value)


def test_boolean_like_signals_give_the_boolean_result(panel, weights):
    entries, exits = weights > 0.35, weights < 0.2
    reference = run_signals(panel, entries, exits)
    for e, x in (
        (entries.astype(int), exits.astype(float)),
        (entries.astype(object), exits),
        (_frame(entries[:, [2, 1, 0]], panel, ["MSFT", "KO", "AAPL"]), exits),
        (pd.DataFrame(entries, columns=list(SYMBOLS), dtype="boolean"), exits),
    ):
        np.testing.assert_array_equal(run_signals(panel, e, x).equity, reference.equity)
    nullable = pd.DataFrame(entries, columns=list(SYMBOLS), dtype="boolean")
    nullable.iloc[4, 1] = pd.NA
    with pytest.raises(ConfigError, match="found <NA> at row 4"):
        run_signals(panel, nullable, exits)


def test_weights_must_be_numbers(panel, weights):
    text = weights.astype(str)
    with pytest.raises(ConfigError, match="got dtype <U"):
        run_weights(panel, text)
    as_objects = weights.astype(object)
    as_objects[2, 1] = "0.3"
    with pytest.raises(ConfigError, match=r"found '0.3' at row 2 \(2021-01-06\), symbol KO"):
        run_weights(panel, as_objects)
    with pytest.raises(ConfigError, match="booleans"):
        run_weights(panel, weights > 0.3)
    nullable = _frame(weights, panel, SYMBOLS).astype("Float64")
    nullable.iloc[3, 0] = pd.NA  # a missing weight means "no target", as NaN does
    expected = weights.copy()
    expected[3, 0] = np.nan
    np.testing.assert_array_equal(
        run_weights(panel, nullable).equity, run_weights(panel, expected).equity
    )


def test_bad_prices_and_benchmarks(panel, weights):
    with pytest.raises(ConfigError, match="prices must be numeric"):
        run_weights(pd.DataFrame({"A": ["x"] * 30}), weights[:, :1], lag=0)
    with pytest.raises(ConfigError, match="duplicated column"):
        run_weights(pd.DataFrame(np.ones((30, 2)), columns=["A", "A"]), weights[:, :2], lag=0)
    with pytest.raises(ConfigError, match="benchmark must be a symbol or numeric"):
        run_weights(panel, weights, benchmark=["x"] * 30)
    with pytest.raises(DataError, match="benchmark price -1.0"):
        run_weights(panel, weights, benchmark=np.r_[np.ones(29), -1.0])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"fast": [1e19], "slow": [10]}, r"params\['fast'\] must be <= "),
        ({"fast": [np.inf], "slow": [10]}, "whole numbers"),
        ({"fast": ["5"], "slow": [10]}, "whole numbers"),
        ({"fast": [True], "slow": [10]}, "whole numbers"),
    ],
)
def test_grid_windows_are_checked(panel, params, message):
    with pytest.raises(ConfigError, match=message):
        run_grid(panel, "ma_cross", params)


def test_grid_thresholds_must_be_numbers(panel):
    with pytest.raises(ConfigError, match=r"params\['threshold'\] must be numbers"):
        run_grid(panel, "momentum", {"lookback": [5], "threshold": ["high"]})
    with pytest.raises(ConfigError, match="params must be a mapping"):
        run_grid(panel, "momentum", [5])  # type: ignore[arg-type]
