"""Idle constants: the probe's correlation against per-date ranks and z-scores made with scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from quantrl.alpha import evaluate, parse
from quantrl.data import load_market
from quantrl.errors import ConfigError
from quantrl.evaluation.idle_constants import IDLE_CORRELATION, SCALE, idle_constants


@pytest.fixture(scope="module")
def panel():
    return load_market("dow30", start="2018-01-01", end="2019-12-31")


def _standardized(values: np.ndarray, transform: str) -> np.ndarray:
    """Per-date z-score (ddof=0) of the values or of their average-tie ranks; 0 where missing."""
    out = np.zeros_like(values)
    for t, row in enumerate(values):
        ok = np.isfinite(row)
        if ok.sum() < 2:
            continue
        x = stats.rankdata(row[ok]) if transform == "rank" else row[ok]
        if np.std(x) > 0:
            out[t, ok] = stats.zscore(x)
    return out


def _reference(formula: str, scaled: str, panel, transform: str) -> float:
    """Mean per-date Pearson correlation of the two formulas' standardised factors (scipy)."""
    a = _standardized(evaluate(formula, panel), transform)
    b = _standardized(evaluate(scaled, panel), transform)
    corrs = [stats.pearsonr(x, y)[0] for x, y in zip(a, b, strict=True) if x.any() and y.any()]
    return float(np.mean(corrs))


def _scaled(value: float) -> str:
    return repr(value * SCALE)


@pytest.mark.parametrize(
    ("formula", "template", "value"),
    [
        # 30 * (a ratio of lows to the high) - 1: the ranks of the ratio whatever the 30
        (
            "Div(Sub(Min(Max(Mul($low,30),20),10),$high),$high)",
            "Div(Sub(Min(Max(Mul($low,{}),20),10),$high),$high)",
            30.0,
        ),
        # a covariance of logs never comes near 10: Abs(x - 10) is 10 - x
        (
            "Abs(Add(Cov(Log($close),Log(Ref($open,10)),20),-10))",
            "Abs(Add(Cov(Log($close),Log(Ref($open,10)),20),{}))",
            -10.0,
        ),
    ],
)
def test_idle_constants_are_found_with_scipys_correlation(panel, formula, template, value):
    """An idle constant is reported with the correlation scipy measures for its scaling."""
    (found,) = idle_constants(formula, panel)
    reference = _reference(formula, template.format(_scaled(value)), panel, "rank")
    assert found.value == value
    assert found.correlation == pytest.approx(reference, abs=1e-12)
    assert reference >= IDLE_CORRELATION


def test_a_constant_that_matters_is_not_idle(panel):
    """The 0.5 in ``Mul($open, Add(0.5, Corr(...)))`` weighs the correlation against the level:
    scaling it changes the ranks, so nothing is reported."""
    formula = "Mul($open,Add(0.5,Corr($high,$open,20)))"
    scaled = f"Mul($open,Add({_scaled(0.5)},Corr($high,$open,20)))"
    assert _reference(formula, scaled, panel, "rank") < IDLE_CORRELATION
    assert idle_constants(formula, panel) == []


def test_working_guards_are_not_probed_but_idle_guards_are(panel):
    """One share added to a volume under a Log keeps it off 0 and is skipped, though scaling it
    changes nothing on this panel; the same shift with no Log above is reported."""
    guarded = "Corr($close,Log(Add($volume,1)),10)"
    assert _reference(guarded, f"Corr($close,Log(Add($volume,{SCALE!r})),10)", panel, "rank") > (
        IDLE_CORRELATION
    )
    assert idle_constants(guarded, panel) == []
    (found,) = idle_constants("Mean(Add($volume,1),10)", panel)
    assert (found.node, found.value) == ("Add($volume,1)", 1.0)


def test_returns_and_reciprocals_keep_their_1(panel):
    """The 1 of a return or of a reciprocal is how those are written: not reported, though
    scaling it leaves the ranks as they were; any other 1 is probed."""
    for formula, scaled in (
        ("Sub(Div($close,Ref($close,5)),1)", f"Sub(Div($close,Ref($close,5)),{SCALE!r})"),
        ("Div(1,$close)", f"Div({SCALE!r},$close)"),
    ):
        assert _reference(formula, scaled, panel, "rank") > IDLE_CORRELATION
        assert idle_constants(formula, panel) == []
    (found,) = idle_constants("Mul(Div($close,Ref($close,5)),1)", panel)  # a factor of 1
    assert (found.node, found.value) == ("Mul(Div($close,Ref($close,5)),1)", 1.0)


def test_ranks_and_z_scores_differ_on_a_monotone_change(panel):
    """Raising a positive ratio to the power 3 or 4.11 keeps its ranks but not its z-scores."""
    formula = "Power(Div($volume,Mean($volume,20)),3)"
    scaled = f"Power(Div($volume,Mean($volume,20)),{_scaled(3.0)})"
    assert _reference(formula, scaled, panel, "zscore") < IDLE_CORRELATION
    assert [f.value for f in idle_constants(formula, panel, transform="rank")] == [3.0]
    assert idle_constants(formula, panel, transform="zscore") == []


def test_universe_masks_the_cells_compared(panel):
    """With a universe the probe compares only its cells, standardised over every finite cell
    and set to 0 outside it, as the pool's transform does."""
    formula = "Mul($open,Add(0.5,Corr($high,$open,20)))"
    universe = np.zeros((panel.n_dates, panel.n_symbols), dtype=bool)
    universe[:, :3] = True
    values = evaluate(formula, panel)
    scaled = evaluate(f"Mul($open,Add({_scaled(0.5)},Corr($high,$open,20)))", panel)
    a = np.where(universe, _standardized(values, "rank"), 0.0)[:, :3]
    b = np.where(universe, _standardized(scaled, "rank"), 0.0)[:, :3]
    keep = [t for t in range(len(a)) if a[t].any() and b[t].any()]
    reference = float(
        np.mean([np.dot(a[t], b[t]) / np.linalg.norm(a[t]) / np.linalg.norm(b[t]) for t in keep])
    )
    found = idle_constants(formula, panel, universe=universe, values=values, threshold=-1.0)
    assert [f.value for f in found] == [0.5]
    assert found[0].correlation == pytest.approx(reference, abs=1e-12)
    assert reference != pytest.approx(
        _reference(formula, formula.replace("0.5", _scaled(0.5)), panel, "rank"), abs=1e-6
    )


def test_formulas_without_constants_and_bad_transforms(panel):
    assert idle_constants(parse("Corr($close,$volume,10)"), panel) == []
    # a 0 stays 0 when scaled, so the probe cannot tell whether it matters: not reported
    assert idle_constants("Greater(Corr($close,$volume,10),0)", panel) == []
    with pytest.raises(ConfigError, match="transform"):
        idle_constants("Mul($close,2)", panel, transform="minmax")
