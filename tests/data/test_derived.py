"""The vwap proxy: values, NaN handling, the meta record, and refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl import ConfigError, DataError, Panel
from quantrl.data import with_vwap_proxy


def _panel(rng: np.random.Generator, t: int = 12, n: int = 3) -> Panel:
    close = 50 + rng.normal(0, 1, (t, n)).cumsum(axis=0)
    fields = {
        "open": close + rng.normal(0, 0.3, (t, n)),
        "high": close + 1.0 + rng.random((t, n)),
        "low": close - 1.0 - rng.random((t, n)),
        "close": close,
        "volume": rng.integers(10, 100, (t, n)).astype(float),
    }
    fields["high"][3, 1] = np.nan
    dates = pd.bdate_range("2022-03-01", periods=t).values
    return Panel(dates, ("A", "B", "C"), fields, meta={"name": "toy"})


def test_typical_price_values_and_meta(rng):
    p = _panel(rng)
    q = with_vwap_proxy(p)
    h, lo, c = p["high"], p["low"], p["close"]
    expected = np.array([[(h[i, j] + lo[i, j] + c[i, j]) / 3 for j in range(3)] for i in range(12)])
    np.testing.assert_allclose(q["vwap"], expected, rtol=0, atol=1e-12)
    assert np.isnan(q["vwap"][3, 1]) and np.isfinite(q["vwap"][3, 0])
    assert q.meta["derived_fields"] == {"vwap": "typical price (high+low+close)/3, a proxy"}
    assert q.meta["name"] == "toy"
    # the source panel is untouched and the other fields are shared values
    assert "vwap" not in p and "derived_fields" not in p.meta
    for name in p.fields:
        np.testing.assert_array_equal(q[name], p[name])


def test_ohlc4_and_existing_derived_fields_are_kept(rng):
    p = _panel(rng).replace(meta={"derived_fields": {"x": "note"}})
    q = with_vwap_proxy(p, "ohlc4")
    expected = (p["open"] + p["high"] + p["low"] + p["close"]) / 4
    np.testing.assert_allclose(q["vwap"], expected, equal_nan=True)
    assert q.meta["derived_fields"]["x"] == "note"
    assert q.meta["derived_fields"]["vwap"].startswith("OHLC average")


def test_refusals(rng):
    q = with_vwap_proxy(_panel(rng))
    with pytest.raises(ConfigError, match="already has a vwap"):
        with_vwap_proxy(q)
    again = with_vwap_proxy(q, "ohlc4", replace=True)
    assert again.meta["derived_fields"]["vwap"].startswith("OHLC")
    with pytest.raises(ConfigError, match="unknown vwap proxy method 'median'"):
        with_vwap_proxy(_panel(rng), "median")  # type: ignore[arg-type]
    closes = _panel(rng).select_fields(["close"])
    with pytest.raises(DataError, match="needs field"):
        with_vwap_proxy(closes)
