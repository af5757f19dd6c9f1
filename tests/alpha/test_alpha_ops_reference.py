"""Every operator against an independent pandas / numpy reference on random panels with NaNs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.alpha import ALPHAGEN_OPERATORS, OPERATORS, evaluate, parse
from quantrl.data.panel import Panel

T, N = 90, 5


def make_panel(seed: int = 0, nan_rate: float = 0.03, t_len: int = T) -> Panel:
    """Random OHLCV + vwap panel with scattered NaNs (including a late-listing symbol)."""
    T = t_len
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    open_ = close * (1 + rng.normal(0, 0.01, (T, N)))
    high = np.maximum(close, open_) * (1 + rng.uniform(0, 0.02, (T, N)))
    low = np.minimum(close, open_) * (1 - rng.uniform(0, 0.02, (T, N)))
    volume = rng.lognormal(12, 0.7, (T, N)).round()
    fields = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    fields["vwap"] = (high + low + close) / 3
    holes = rng.random((T, N)) < nan_rate
    holes[:15, 4] = True  # a symbol that starts trading late
    for arr in fields.values():
        arr[holes] = np.nan
    dates = np.datetime64("2020-01-01") + np.arange(T)
    return Panel(dates, tuple(f"S{i}" for i in range(N)), fields)


@pytest.fixture(scope="module")
def panel() -> Panel:
    return make_panel()


def df(panel: Panel, name: str) -> pd.DataFrame:
    return pd.DataFrame(np.array(panel[name]))


def roll_apply(frame: pd.DataFrame, w: int, fn) -> pd.DataFrame:
    """Explicit loop: fn over each full window of finite values, NaN otherwise."""
    a = frame.to_numpy()
    out = np.full(a.shape, np.nan)
    for j in range(a.shape[1]):
        for t in range(w - 1, a.shape[0]):
            win = a[t - w + 1 : t + 1, j]
            if np.isfinite(win).all():
                out[t, j] = fn(win)
    return pd.DataFrame(out)


def full_window(frame: pd.DataFrame, w: int) -> pd.DataFrame:
    return frame.notna().astype(float).rolling(w).sum() == w


def _wma(win: np.ndarray) -> float:
    k = np.arange(1, len(win) + 1, dtype=float)
    k /= k.sum()
    return float(np.nanmean(k * win))  # Qlib: nanmean of the normalised weighted values


def _linreg(win: np.ndarray) -> tuple[float, float]:
    k = np.arange(1, len(win) + 1, dtype=float)
    slope, intercept = np.polyfit(k, win, 1)
    return float(slope), float(intercept)


def _resi(win: np.ndarray) -> float:
    slope, intercept = _linreg(win)
    return float(win[-1] - (slope * len(win) + intercept))


def _rsq(win: np.ndarray) -> float:
    k = np.arange(1, len(win) + 1, dtype=float)
    return float(np.corrcoef(k, win)[0, 1] ** 2)


def _mad(win: np.ndarray) -> float:
    return float(np.mean(np.abs(win - win.mean())))


def _rank_last(win: np.ndarray) -> float:
    last = win[-1]
    less = np.sum(win < last)
    equal = np.sum(win == last)
    return float((less + (equal + 1) / 2) / len(win))


def _cmp(a: pd.DataFrame, b: pd.DataFrame, fn) -> pd.DataFrame:
    res = fn(a.to_numpy(), b.to_numpy()).astype(float)
    res[a.isna().to_numpy() | b.isna().to_numpy()] = np.nan
    return pd.DataFrame(res)


def _ema(frame: pd.DataFrame, span: int) -> pd.DataFrame:
    return frame.ewm(span=span, adjust=True).mean().where(full_window(frame, span))


def _reference(name: str, p: Panel) -> tuple[str, pd.DataFrame]:
    c, o, v, h = df(p, "close"), df(p, "open"), df(p, "volume"), df(p, "high")
    r = c / c.shift(1) - 1
    w = 7
    table = {
        "Abs": ("Abs($close-$open)", (c - o).abs()),
        "Sign": ("Sign($close-$open)", np.sign(c - o)),
        "Log": ("Log($volume)", np.log(v)),
        "Not": ("Not($close>$open)", 1.0 - _cmp(c, o, np.greater)),
        "Add": ("$close+$open", c + o),
        "Sub": ("$close-$open", c - o),
        "Mul": ("$close*$volume", c * v),
        "Div": ("$close/$open", c / o),
        "Power": ("Power($close/$open, 2)", (c / o) ** 2),
        "Greater": ("Greater($close, $open)", pd.DataFrame(np.maximum(c, o))),
        "Less": ("Less($close, $open)", pd.DataFrame(np.minimum(c, o))),
        "Gt": ("$close>$open", _cmp(c, o, np.greater)),
        "Ge": ("$close>=$open", _cmp(c, o, np.greater_equal)),
        "Lt": ("$close<$open", _cmp(c, o, np.less)),
        "Le": ("$close<=$open", _cmp(c, o, np.less_equal)),
        "Eq": ("Eq($close, Ref($close, 1))", _cmp(c, c.shift(1), np.equal)),
        "Ne": ("$close!=$open", _cmp(c, o, np.not_equal)),
        "And": (
            "($close>$open)&($volume>Ref($volume,1))",
            _cmp(_cmp(c, o, np.greater), _cmp(v, v.shift(1), np.greater), np.logical_and),
        ),
        "Or": (
            "($close>$open)|($volume>Ref($volume,1))",
            _cmp(_cmp(c, o, np.greater), _cmp(v, v.shift(1), np.greater), np.logical_or),
        ),
        "If": (
            "If($close>$open, $high, $close)",
            pd.DataFrame(np.where(c > o, h, c)).where(c.notna() & o.notna()),
        ),
        "Ref": ("Ref($close, 3)", c.shift(3)),
        "Delta": ("Delta($close, 3)", c - c.shift(3)),
        "Mean": (f"Mean($close, {w})", c.rolling(w).mean()),
        "Sum": (f"Sum($volume, {w})", v.rolling(w).sum()),
        "Std": (f"Std($close, {w})", c.rolling(w).std()),
        "Var": (f"Var($close, {w})", c.rolling(w).var()),
        "Skew": (f"Skew($close, {w})", c.rolling(w).skew()),
        "Kurt": (f"Kurt($close, {w})", c.rolling(w).kurt()),
        "Max": (f"Max($high, {w})", h.rolling(w).max()),
        "Min": (f"Min($close, {w})", c.rolling(w).min()),
        "IdxMax": (f"IdxMax($high, {w})", roll_apply(h, w, lambda a: a.argmax() + 1)),
        "IdxMin": (f"IdxMin($close, {w})", roll_apply(c, w, lambda a: a.argmin() + 1)),
        "Med": ("Med($close, 6)", c.rolling(6).median()),
        "Mad": (f"Mad($close, {w})", roll_apply(c, w, _mad)),
        "Quantile": (f"Quantile($close, {w}, 0.8)", c.rolling(w).quantile(0.8)),
        "Rank": (f"Rank($close, {w})", roll_apply(c, w, _rank_last)),
        "Count": (f"Count($close, {w})", c.notna().astype(float).rolling(w).sum()),
        "Slope": (f"Slope($close, {w})", roll_apply(c, w, lambda a: _linreg(a)[0])),
        "Rsquare": (f"Rsquare($close, {w})", roll_apply(c, w, _rsq)),
        "Resi": (f"Resi($close, {w})", roll_apply(c, w, _resi)),
        "WMA": (f"WMA($close, {w})", roll_apply(c, w, _wma)),
        "EMA": (f"EMA($close, {w})", _ema(c, w)),
        "Cov": (f"Cov($close, $volume, {w})", c.rolling(w).cov(v)),
        "Corr": (f"Corr($close, Log($volume), {w})", c.rolling(w).corr(np.log(v))),
        "CSRank": ("CSRank($close/Ref($close,1))", r.rank(axis=1, pct=True)),
        "CSZScore": (
            "CSZScore($close/Ref($close,1)-1)",
            r.sub(r.mean(axis=1), axis=0).div(r.std(axis=1), axis=0),
        ),
        "CSDemean": ("CSDemean($close/Ref($close,1)-1)", r.sub(r.mean(axis=1), axis=0)),
    }
    formula, ref = table[name]
    return formula, pd.DataFrame(ref)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operator_matches_reference(panel: Panel, name: str) -> None:
    formula, ref = _reference(name, panel)
    expr = parse(formula)
    assert name in expr.operators()
    got = evaluate(expr, panel)
    want = ref.to_numpy(dtype=float)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=formula)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-9, equal_nan=True, err_msg=formula)
    assert np.isfinite(got).sum() > 0.5 * got.size, formula  # the test compares real values


ROW_BLOCK_OPERATORS = ["Mean", "Sum", "Std", "Var", "Max", "Min", "Mad", "Slope", "Rsquare"]
ROW_BLOCK_OPERATORS += ["Resi", "WMA", "EMA", "Cov", "Corr"]


@pytest.fixture(scope="module")
def long_panel() -> Panel:
    return make_panel(seed=3, t_len=1500)


@pytest.mark.parametrize("name", ROW_BLOCK_OPERATORS)
def test_threaded_row_blocks_match_reference_and_serial(long_panel: Panel, name: str) -> None:
    """On a long panel the kernels split rows (or columns) into blocks for the threads: the
    result still matches the reference, and is bit-identical with one thread or two."""
    import numba

    formula, ref = _reference(name, long_panel)
    got = evaluate(formula, long_panel)
    np.testing.assert_allclose(got, ref.to_numpy(dtype=float), rtol=1e-8, atol=1e-9, equal_nan=True)
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one numba thread only")
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = evaluate(formula, long_panel)
        numba.set_num_threads(2)
        threaded = evaluate(formula, long_panel)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(serial, threaded)
    np.testing.assert_array_equal(serial, got)


def _exact_windows(x: np.ndarray, y: np.ndarray, w: int) -> dict[str, np.ndarray]:
    """Two-pass per-window statistics with numpy sliding windows (independent of the kernels)."""
    t_len, n = x.shape
    out = {k: np.full((t_len, n), np.nan) for k in ("std", "mean", "corr", "slope")}
    wx = np.lib.stride_tricks.sliding_window_view(x, w, axis=0)  # (T-w+1, n, w)
    wy = np.lib.stride_tricks.sliding_window_view(y, w, axis=0)
    ok = np.isfinite(wx).all(axis=2) & np.isfinite(wy).all(axis=2)
    okx = np.isfinite(wx).all(axis=2)
    mx = wx.mean(axis=2, keepdims=True)
    my = wy.mean(axis=2, keepdims=True)
    dx, dy = wx - mx, wy - my
    k = np.arange(1, w + 1) - (w + 1) / 2
    rows = slice(w - 1, t_len)
    out["mean"][rows] = np.where(okx, mx[..., 0], np.nan)
    out["std"][rows] = np.where(okx, np.sqrt((dx**2).sum(axis=2) / (w - 1)), np.nan)
    corr = (dx * dy).sum(axis=2) / np.sqrt((dx**2).sum(axis=2) * (dy**2).sum(axis=2))
    out["corr"][rows] = np.where(ok, corr, np.nan)
    out["slope"][rows] = np.where(okx, (dx * k).sum(axis=2) / (k**2).sum(), np.nan)
    return out


@pytest.mark.parametrize("w", [2, 5, 30])
def test_windows_and_long_series_do_not_drift(w: int) -> None:
    """Running sums are re-synchronised: long trending series with large offsets stay exact."""
    rng = np.random.default_rng(w)
    t_len = 3000
    base = 1e6 + np.cumsum(rng.normal(0, 1, (t_len, 2)), axis=0)
    base[rng.random((t_len, 2)) < 0.01] = np.nan
    volume = rng.lognormal(8, 1, (t_len, 2))
    dates = np.datetime64("2000-01-01") + np.arange(t_len)
    p = Panel(dates, ("A", "B"), {"close": base, "volume": volume})
    ref = _exact_windows(base, volume, w)
    checks = {
        f"Std($close,{w})": ref["std"],
        f"Mean($close,{w})": ref["mean"],
        f"Corr($close,$volume,{w})": ref["corr"],
        f"Slope($close,{w})": ref["slope"],
    }
    for formula, want in checks.items():
        got = evaluate(formula, p)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9, equal_nan=True, err_msg=formula)
    assert np.isfinite(ref["corr"]).mean() > 0.5


def test_ema_smoothing_factor_form(panel: Panel) -> None:
    """EMA(x, 0.25) is pandas ewm(alpha=0.25); its window is the span equivalent (7 rows)."""
    c = df(panel, "close")
    got = evaluate("EMA($close, 0.25)", panel)
    want = c.ewm(alpha=0.25, adjust=True).mean().where(full_window(c, 7))
    np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-10, equal_nan=True)
    assert parse("EMA($close, 0.25)").lookback == 6


def test_corr_is_nan_on_flat_windows() -> None:
    """Qlib sets Corr/Rsquare to NaN where a window is (nearly) constant."""
    t_len = 30
    flat = np.ones((t_len, 1)) * 5.0
    trend = np.arange(t_len, dtype=float)[:, None] + 1
    dates = np.datetime64("2000-01-01") + np.arange(t_len)
    p = Panel(dates, ("A",), {"close": flat, "volume": trend})
    assert np.isnan(evaluate("Corr($close, $volume, 5)", p)).all()
    assert np.isnan(evaluate("Rsquare($close, 5)", p)).all()
    np.testing.assert_allclose(evaluate("Rsquare($volume, 5)", p)[4:], 1.0)


def test_idxmax_takes_first_occurrence_and_rank_averages_ties() -> None:
    x = np.array([[1.0], [3.0], [3.0], [2.0], [3.0]])
    dates = np.datetime64("2000-01-01") + np.arange(5)
    p = Panel(dates, ("A",), {"close": x})
    np.testing.assert_array_equal(evaluate("IdxMax($close, 3)", p)[2:, 0], [2.0, 1.0, 1.0])
    # last value 3 ties with one other 3 in [3, 2, 3]: average rank 2.5 of 3
    assert evaluate("Rank($close, 3)", p)[4, 0] == pytest.approx(2.5 / 3)


def test_alphagen_operator_set_is_covered() -> None:
    assert len(ALPHAGEN_OPERATORS) == 22
    assert set(ALPHAGEN_OPERATORS) <= set(OPERATORS)


def test_lookback_rows_are_nan_then_values_start() -> None:
    p = make_panel(seed=3, nan_rate=0.0)
    formulas = [
        "Mean($close, 5)",
        "Corr($close, Log($volume+1), 10)",
        "Std(Ref($close, 3), 4) / Mean($close, 20)",
        "Delta(EMA($close, 6), 2)",
        "Rsquare(Slope($close, 5), 6)",
        "CSRank(Ref($close, 2))",
    ]
    for formula in formulas:
        expr = parse(formula)
        out = evaluate(expr, p)
        lb = expr.lookback
        assert np.isnan(out[:lb]).all(), formula
        assert np.isfinite(out[lb, :4]).all(), formula  # column 4 lists late
