"""Every Alpha158 and Alpha360 formula parses, round-trips through str() and evaluates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.alpha import EvalCache, evaluate, parse, unit_issues
from quantrl.alpha.alpha158 import ALPHA158, ALPHA360, alpha158_formulas, alpha360_formulas
from quantrl.data.panel import Panel

T, N = 100, 4


@pytest.fixture(scope="module")
def panel() -> Panel:
    rng = np.random.default_rng(42)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    open_ = close * (1 + rng.normal(0, 0.01, (T, N)))
    high = np.maximum(close, open_) * 1.01
    low = np.minimum(close, open_) * 0.99
    fields = {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": rng.lognormal(10, 1, (T, N)),
        "vwap": (high + low + close) / 3,
    }
    holes = rng.random((T, N)) < 0.01
    for arr in fields.values():
        arr[holes] = np.nan
    return Panel(np.datetime64("2019-01-01") + np.arange(T), ("A", "B", "C", "D"), fields)


def test_counts_and_names() -> None:
    assert len(ALPHA158) == 158 and len({n for n, _ in ALPHA158}) == 158
    assert len(ALPHA360) == 360 and len({n for n, _ in ALPHA360}) == 360
    assert alpha158_formulas()[0] == "($close-$open)/$open"
    assert (
        dict(ALPHA158)["CORD5"] == "Corr($close/Ref($close,1), Log($volume/Ref($volume, 1)+1), 5)"
    )
    assert alpha360_formulas()[0] == "Ref($close, 59)/$close"


@pytest.mark.parametrize("group", ["alpha158", "alpha360"])
def test_parse_round_trip_evaluate(panel: Panel, group: str) -> None:
    formulas = alpha158_formulas() if group == "alpha158" else alpha360_formulas()
    cache = EvalCache()
    for text in formulas:
        expr = parse(text)
        assert parse(str(expr)) == expr, text
        assert expr.future == 0 and expr.lookback <= 60, text
        out = evaluate(expr, panel, cache=cache)
        assert out.shape == (T, N) and out.dtype == np.float64
        assert np.isnan(out[: expr.lookback]).all(), text
        assert np.isfinite(out[expr.lookback + 2 :]).mean() > 0.6, text
        assert unit_issues(expr) == [], text


def test_selected_alpha158_values_match_pandas(panel: Panel) -> None:
    c = pd.DataFrame(np.array(panel["close"]))
    v = pd.DataFrame(np.array(panel["volume"]))
    h = pd.DataFrame(np.array(panel["high"]))
    low = pd.DataFrame(np.array(panel["low"]))
    d = 10
    refs = {
        "MA10": c.rolling(d).mean() / c,
        "STD10": c.rolling(d).std() / c,
        "RSV10": (c - low.rolling(d).min()) / (h.rolling(d).max() - low.rolling(d).min() + 1e-12),
        "CORR10": c.rolling(d).corr(np.log(v + 1)),
        "VSTD10": v.rolling(d).std() / (v + 1e-12),
        "QTLU10": c.rolling(d).quantile(0.8) / c,
        "ROC10": c.shift(d) / c,
    }
    named = dict(ALPHA158)
    for name, ref in refs.items():
        got = evaluate(named[name], panel)
        np.testing.assert_allclose(got, ref.to_numpy(), rtol=1e-9, equal_nan=True, err_msg=name)
