"""No look-ahead: perturbing rows after t never changes any formula's rows <= t."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantrl.alpha import OPERATORS, evaluate, parse
from quantrl.alpha.alpha158 import ALPHA158
from quantrl.data.panel import Panel

T, N = 160, 4
FIELDS = ("open", "high", "low", "close", "volume", "vwap")


def base_fields(seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 30 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    out = {
        "open": close * (1 + rng.normal(0, 0.01, (T, N))),
        "close": close,
        "volume": rng.lognormal(10, 0.5, (T, N)),
    }
    out["high"] = np.maximum(out["open"], close) * 1.01
    out["low"] = np.minimum(out["open"], close) * 0.99
    out["vwap"] = (out["high"] + out["low"]) / 2
    holes = rng.random((T, N)) < 0.01
    for arr in out.values():
        arr[holes] = np.nan
    return out


def to_panel(fields: dict[str, np.ndarray]) -> Panel:
    dates = np.datetime64("2021-01-01") + np.arange(T)
    return Panel(dates, tuple(f"S{i}" for i in range(N)), fields)


def perturb_after(fields: dict[str, np.ndarray], t: int, seed: int) -> dict[str, np.ndarray]:
    """Scale rows > t by random factors and punch NaN holes into them."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, arr in fields.items():
        new = arr.copy()
        rows = T - t - 1
        if rows > 0:
            new[t + 1 :] *= rng.uniform(0.5, 1.5, (rows, N))
            new[t + 1 :][rng.random((rows, N)) < 0.2] = np.nan
        out[name] = new
    return out


ONE_PER_OPERATOR = {
    "Abs": "Abs($close-$open)",
    "Sign": "Sign($close-$open)",
    "Log": "Log($volume)",
    "Not": "Not($close>$open)",
    "Add": "$close+$open",
    "Sub": "$close-$open",
    "Mul": "$close*$volume",
    "Div": "$close/$open",
    "Power": "Power($close, 0.5)",
    "Greater": "Greater($close, $open)",
    "Less": "Less($close, $open)",
    "Gt": "$close>$open",
    "Ge": "$close>=$open",
    "Lt": "$close<$open",
    "Le": "$close<=$open",
    "Eq": "$close==Ref($close,1)",
    "Ne": "$close!=$open",
    "And": "($close>$open)&($high>$vwap)",
    "Or": "($close>$open)|($high>$vwap)",
    "If": "If($close>$open, $high, $low)",
    "Ref": "Ref($close, 3)",
    "Delta": "Delta($close, 4)",
    "Mean": "Mean($close, 5)",
    "Sum": "Sum($volume, 5)",
    "Std": "Std($close, 5)",
    "Var": "Var($close, 5)",
    "Skew": "Skew($close, 6)",
    "Kurt": "Kurt($close, 6)",
    "Max": "Max($high, 5)",
    "Min": "Min($low, 5)",
    "IdxMax": "IdxMax($high, 5)",
    "IdxMin": "IdxMin($low, 5)",
    "Med": "Med($close, 5)",
    "Mad": "Mad($close, 5)",
    "Quantile": "Quantile($close, 5, 0.3)",
    "Rank": "Rank($close, 5)",
    "Count": "Count($close, 5)",
    "Slope": "Slope($close, 5)",
    "Rsquare": "Rsquare($close, 5)",
    "Resi": "Resi($close, 5)",
    "WMA": "WMA($close, 5)",
    "EMA": "EMA($close, 5)",
    "Cov": "Cov($close, $volume, 5)",
    "Corr": "Corr($close, $volume, 5)",
    "CSRank": "CSRank($close)",
    "CSZScore": "CSZScore($close)",
    "CSDemean": "CSDemean($close)",
}

NESTED = [
    "Corr($close/Ref($close,1), Log($volume/Ref($volume, 1)+1), 10)",
    "CSRank(Std(Delta($close, 1), 10) / Mean($close, 10))",
    "Rsquare(EMA(Resi($close, 5), 4), 6) - Rank(WMA($volume, 3), 8)",
    "If(Greater(Slope($close, 5), 0), Max($high, 7), Min($low, 7)) / $close",
    "CSZScore(Cov(Med($close, 4), Mad($volume, 4), 9)) + Skew(Quantile($close, 6, 0.9), 7)",
    "Sum(Greater($close-Ref($close, 1), 0), 12)/(Sum(Abs($close-Ref($close, 1)), 12)+1e-12)",
] + [f for _, f in ALPHA158[::9]]


def test_every_operator_has_a_lookahead_case() -> None:
    assert set(ONE_PER_OPERATOR) == set(OPERATORS)


@pytest.mark.parametrize("formula", list(ONE_PER_OPERATOR.values()) + NESTED)
def test_future_rows_do_not_change_the_past(formula: str) -> None:
    fields = base_fields()
    panel = to_panel(fields)
    expr = parse(formula)
    base = evaluate(expr, panel)
    assert np.isfinite(base).any()
    rng = np.random.default_rng(zlib.crc32(formula.encode()))
    for t in sorted(rng.integers(0, T - 1, size=4)):
        moved = evaluate(expr, to_panel(perturb_after(fields, int(t), int(t) + 1)))
        np.testing.assert_array_equal(moved[: t + 1], base[: t + 1], err_msg=f"{formula} t={t}")


@settings(max_examples=25, deadline=None)
@given(
    t=st.integers(min_value=0, max_value=T - 2),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
    which=st.sampled_from(sorted(ONE_PER_OPERATOR)),
)
def test_random_perturbations_property(t: int, seed: int, which: str) -> None:
    fields = base_fields(seed % 1000)
    expr = parse(ONE_PER_OPERATOR[which])
    base = evaluate(expr, to_panel(fields))
    moved = evaluate(expr, to_panel(perturb_after(fields, t, seed)))
    np.testing.assert_array_equal(moved[: t + 1], base[: t + 1])


def test_the_check_detects_a_label_that_reads_the_future() -> None:
    """The same perturbation does change a forward-looking label: the test can fail."""
    fields = base_fields()
    label = parse("Ref($close, -5)/$close - 1", allow_future=True)
    assert label.future == 5 and label.lookback == 0
    base = evaluate(label, to_panel(fields), allow_future=True)
    moved = evaluate(label, to_panel(perturb_after(fields, 30, 1)), allow_future=True)
    assert not np.array_equal(moved[:31], base[:31], equal_nan=True)
    np.testing.assert_array_equal(moved[:26], base[:26])  # rows whose label ends by t=30


def test_cached_evaluation_on_a_different_panel_is_not_reused() -> None:
    from quantrl.alpha import EvalCache

    fields = base_fields()
    cache = EvalCache()
    a = evaluate("Mean($close, 5)", to_panel(fields), cache=cache)
    b = evaluate("Mean($close, 5)", to_panel(perturb_after(fields, 10, 3)), cache=cache)
    assert not np.array_equal(a[11:], b[11:], equal_nan=True)
