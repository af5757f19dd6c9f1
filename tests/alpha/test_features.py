"""Feature matrices: equal to per-formula ``evaluate``, laid out by (date, symbol), no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl import ConfigError, Panel
from quantrl.alpha import evaluate, feature_array, features
from quantrl.alpha.alpha158 import ALPHA158, ALPHA360
from quantrl.alpha.feature_matrix import feature_formulas
from quantrl.data import with_vwap_proxy

FORMULAS = {
    "KMID": "($close-$open)/$open",
    "MA5": "Mean($close, 5)/$close",
    "CORR10": "Corr($close, Log($volume+1), 10)",
    "RANK5": "Rank($close, 5)",
    "VMA5": "Mean($volume, 5)/($volume+1e-12)",
}


def _panel(rng: np.random.Generator, t: int = 80, n: int = 6) -> Panel:
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (t, n)), axis=0))
    close[rng.random((t, n)) < 0.05] = np.nan
    fields = {
        "open": close * (1 + rng.normal(0, 0.003, (t, n))),
        "high": close * 1.01,
        "low": close * 0.99,
        "close": close,
        "volume": rng.integers(100, 1000, (t, n)).astype(float),
    }
    for k in ("open", "high", "low", "volume"):
        fields[k][np.isnan(close)] = np.nan
    dates = pd.bdate_range("2020-01-02", periods=t).values
    return Panel(dates, tuple(f"S{i}" for i in range(n)), fields, meta={"name": "toy"})


def test_frame_equals_per_formula_evaluate(rng):
    p = _panel(rng)
    frame = features(p, FORMULAS)
    assert list(frame.columns) == list(FORMULAS)
    assert frame.index.names == ["date", "symbol"]
    assert len(frame) == p.n_dates * p.n_symbols
    # date-major: the first N rows are the first date, symbols in panel order
    assert list(frame.index.get_level_values("symbol")[: p.n_symbols]) == list(p.symbols)
    assert (frame.index.get_level_values("date")[: p.n_symbols] == p.dates[0]).all()
    for name, formula in FORMULAS.items():
        ref = evaluate(formula, p)
        got = frame[name].unstack("symbol").reindex(columns=list(p.symbols)).to_numpy()
        np.testing.assert_array_equal(got, ref)
        # one cell read by label
        t, j = 40, 3
        np.testing.assert_array_equal(frame.loc[(p.dates[t], p.symbols[j]), name], ref[t, j])


def test_array_accessor_and_warmup_rows(rng):
    p = _panel(rng)
    arr = feature_array(p, list(FORMULAS.values()))
    assert arr.shape == (p.n_dates, p.n_symbols, len(FORMULAS)) and arr.dtype == np.float64
    for k, formula in enumerate(FORMULAS.values()):
        np.testing.assert_array_equal(arr[:, :, k], evaluate(formula, p))
    cut = feature_array(p, FORMULAS, warmup_rows=20, dtype=np.float32)
    assert cut.dtype == np.float32
    np.testing.assert_array_equal(cut, arr[20:].astype(np.float32))
    # a panel's own warm-up rows are history by default
    _, _, test = p.split(p.dates[30], p.dates[50], warmup=15)
    frame = features(test, FORMULAS)
    assert frame.index.get_level_values("date")[0] == p.dates[50]
    full = features(p, FORMULAS).loc[p.dates[50] :]
    # 15 rows of history cover every window here; rolling sums start elsewhere (rounding only)
    np.testing.assert_allclose(frame.to_numpy(), full.to_numpy(), rtol=1e-10, equal_nan=True)
    # default names of a plain list are the canonical formulas; dropna drops bar-less rows
    plain = features(p, ["Mean($close, 5)/$close"], dropna=True)
    assert plain.columns[0] == "Div(Mean($close,5),$close)"
    assert plain.notna().any(axis=1).all() and len(plain) < p.n_dates * p.n_symbols


def test_named_sets_and_vwap(rng):
    p = _panel(rng, t=90)
    names, exprs = feature_formulas("alpha158")
    assert names == tuple(n for n, _ in ALPHA158) and len(exprs) == 158
    assert len(feature_formulas("Alpha360")[0]) == len(ALPHA360) == 360
    with pytest.raises(ConfigError, match="vwap='proxy'"):
        features(p, "alpha158")
    frame = features(p, "alpha158", vwap="proxy")
    assert frame.shape == (p.n_dates * p.n_symbols, 158)
    proxy = (p["high"] + p["low"] + p["close"]) / 3 / p["close"]
    got = frame["VWAP0"].unstack("symbol").reindex(columns=list(p.symbols)).to_numpy()
    np.testing.assert_allclose(got, proxy, rtol=1e-12, equal_nan=True)
    # a panel's own vwap wins over the proxy
    own = with_vwap_proxy(p, "ohlc4")
    kept = features(own, {"V": "$vwap/$close"}, vwap="proxy")["V"].unstack("symbol")
    np.testing.assert_allclose(kept.to_numpy(), own["vwap"] / own["close"], equal_nan=True)


def test_bad_inputs(rng):
    p = _panel(rng)
    with pytest.raises(ConfigError, match="unknown feature set 'alpha101'"):
        features(p, "alpha101")
    with pytest.raises(ConfigError, match="2 names given for 1 formulas"):
        features(p, ["$close"], names=["a", "b"])
    with pytest.raises(ConfigError, match="appears twice"):
        features(p, ["$close", "$open"], names=["a", "a"])
    with pytest.raises(ConfigError, match="no formulas"):
        features(p, [])
    with pytest.raises(ConfigError, match="warmup_rows"):
        feature_array(p, ["$close"], warmup_rows=p.n_dates)
    with pytest.raises(ConfigError, match="vwap must be"):
        features(p, ["$vwap"], vwap="median")


def test_no_lookahead(rng):
    p = _panel(rng)
    cut = 50
    fields = {k: v.copy() for k, v in p.fields.items()}
    for v in fields.values():
        v[cut:] *= rng.uniform(0.5, 1.5, v[cut:].shape)
    q = p.replace(fields=fields)
    a = feature_array(p, "alpha158", vwap="proxy")
    b = feature_array(q, "alpha158", vwap="proxy")
    np.testing.assert_array_equal(a[:cut], b[:cut])
    assert not np.allclose(a[cut:], b[cut:], equal_nan=True)
