"""Panel: construction checks, selection, splits, returns/labels, resampling and round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl import ConfigError, DataError, Panel


def make_panel(rng: np.random.Generator, t: int = 60, n: int = 4, nan_share: float = 0.1) -> Panel:
    dates = pd.bdate_range("2021-01-04", periods=t).values
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (t, n)), axis=0))
    close[rng.random((t, n)) < nan_share] = np.nan
    spread = np.abs(rng.normal(0, 0.5, (t, n)))
    fields = {
        "open": close * (1 + rng.normal(0, 0.002, (t, n))),
        "high": close + spread + 1,
        "low": close - spread - 1,
        "close": close,
        "volume": rng.integers(1, 1000, (t, n)).astype(float),
    }
    for k in ("open", "high", "low", "volume"):
        fields[k][np.isnan(close)] = np.nan
    return Panel(dates, tuple(f"S{i}" for i in range(n)), fields)


def test_construction_rejects_bad_inputs(rng):
    p = make_panel(rng)
    with pytest.raises(DataError, match="strictly increasing"):
        Panel(p.dates[::-1], p.symbols, dict(p.fields))
    dup = p.dates.copy()
    dup[3] = dup[2]
    with pytest.raises(DataError, match="duplicated date"):
        Panel(dup, p.symbols, dict(p.fields))
    with pytest.raises(DataError, match="shape"):
        Panel(p.dates, p.symbols[:-1], dict(p.fields))
    with pytest.raises(DataError, match="unique"):
        Panel(p.dates, ("A", "A", "B", "C"), dict(p.fields))
    with pytest.raises(DataError, match="at least one field"):
        Panel(p.dates, p.symbols, {})


def test_panel_is_immutable(rng):
    p = make_panel(rng)
    with pytest.raises(ValueError):
        p["close"][0, 0] = 1.0
    with pytest.raises(TypeError):
        p.fields["close"] = np.zeros(p.shape)  # type: ignore[index]
    with pytest.raises(AttributeError):
        p.symbols = ("x",)  # type: ignore[misc]
    source = np.ones(p.shape)
    q = Panel(p.dates, p.symbols, {"close": source})
    source[0, 0] = 5.0
    assert q["close"][0, 0] == 1.0  # the panel owns a copy


def test_slice_is_inclusive_and_empty_range_raises(rng):
    p = make_panel(rng)
    start, end = p.dates[5], p.dates[10]
    s = p.slice(start, end)
    assert s.n_dates == 6 and s.dates[0] == start and s.dates[-1] == end
    np.testing.assert_array_equal(s["close"], p["close"][5:11])
    with pytest.raises(DataError, match="empty date range"):
        p.slice("1990-01-01", "1990-12-31")


def test_select_orders_and_rejects_unknown(rng):
    p = make_panel(rng)
    s = p.select(["S2", "S0"])
    assert s.symbols == ("S2", "S0")
    np.testing.assert_array_equal(s["close"], p["close"][:, [2, 0]])
    with pytest.raises(DataError, match="unknown symbol") as info:
        p.select(["S0", "NOPE"])
    assert info.value.symbol == "NOPE"


def test_split_never_overlaps_and_covers_all_rows(rng):
    p = make_panel(rng, t=100)
    train, valid, test = p.split(p.dates[60], p.dates[80])
    assert train.dates[-1] < valid.dates[0] and valid.dates[-1] < test.dates[0]
    joined = np.concatenate([train.dates, valid.dates, test.dates])
    np.testing.assert_array_equal(joined, p.dates)
    assert (train.n_dates, valid.n_dates, test.n_dates) == (60, 20, 20)
    with pytest.raises(ConfigError):
        p.split(p.dates[80], p.dates[60])
    with pytest.raises(DataError, match="empty"):
        p.split(p.dates[0], p.dates[50])


def test_split_warmup_rows_are_history_only(rng):
    p = make_panel(rng, t=100, nan_share=0.0)
    train, valid, test = p.split(p.dates[60], p.dates[80], warmup=5)
    assert valid.warmup == 5 and valid.n_dates == 25
    np.testing.assert_array_equal(valid.segment_dates, p.dates[60:80])
    # segments (warm-up excluded) still never overlap
    assert train.dates[-1] < valid.segment_dates[0]
    assert valid.segment_dates[-1] < test.segment_dates[0]
    label = valid.forward_returns(1)
    assert np.isnan(label[:5]).all()  # no label on history rows


def test_returns_and_forward_returns_match_pandas(rng):
    p = make_panel(rng, nan_share=0.0)
    close = pd.DataFrame(p["close"])
    np.testing.assert_allclose(
        p.returns(3), close.pct_change(3, fill_method=None).values, rtol=1e-12
    )
    expected = (close.shift(-5) / close - 1).values
    np.testing.assert_allclose(p.forward_returns(5), expected, rtol=1e-12)
    assert np.isnan(p.forward_returns(5)[-5:]).all()


def test_forward_label_never_uses_next_segment(rng):
    p = make_panel(rng, t=100, nan_share=0.0)
    train, _, _ = p.split(p.dates[60], p.dates[80])
    bumped = dict(p.fields)
    bumped["close"] = p["close"].copy()
    bumped["close"][60:] *= 3.0  # change everything after the train segment
    train2, _, _ = p.replace(fields=bumped).split(p.dates[60], p.dates[80])
    np.testing.assert_array_equal(train.forward_returns(5), train2.forward_returns(5))


def test_resample_matches_pandas_ohlc(rng):
    t = 240
    dates = pd.date_range("2022-01-03 09:30", periods=t, freq="min").values
    close = 100 + np.cumsum(rng.normal(0, 0.1, (t, 2)), axis=0)
    open_ = close + rng.normal(0, 0.05, (t, 2))
    high = np.maximum(open_, close) + 0.1
    low = np.minimum(open_, close) - 0.1
    vol = rng.integers(1, 50, (t, 2)).astype(float)
    close[7, 1] = open_[7, 1] = high[7, 1] = low[7, 1] = vol[7, 1] = np.nan
    p = Panel(
        dates, ("A", "B"), {"open": open_, "high": high, "low": low, "close": close, "volume": vol}
    )
    r = p.resample("15m")
    for j in range(2):
        frame = pd.DataFrame(
            {
                "open": open_[:, j],
                "high": high[:, j],
                "low": low[:, j],
                "close": close[:, j],
                "volume": vol[:, j],
            },
            index=pd.DatetimeIndex(dates),
        ).dropna()
        ref = frame.resample("15min").agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
        )
        np.testing.assert_array_equal(r.dates, ref.index.values)
        for f in ("open", "high", "low", "close", "volume"):
            np.testing.assert_allclose(r[f][:, j], ref[f].values, rtol=1e-12)


def test_round_trip_polars_and_pandas(rng):
    p = make_panel(rng)
    assert Panel.from_long(p.to_polars("long")).equals(p)
    assert Panel.from_long(p.to_pandas("long")).equals(p)
    assert Panel.from_pandas_wide(p.to_pandas("wide")).equals(p)
    wide = {f: p.to_polars("wide", field=f) for f in p.field_names}
    assert Panel.from_wide(wide).equals(p)
    with pytest.raises(ConfigError, match="one field"):
        p.to_polars("wide")


def test_long_frame_drops_missing_bars(rng):
    p = make_panel(rng, nan_share=0.2)
    long = p.to_polars("long")
    assert long.height == int((~np.isnan(p["close"])).sum())
