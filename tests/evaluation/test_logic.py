"""Financial-logic judges: hand cases for the rules, a local fake server for the LLM judge."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from quantrl.alpha import evaluate, parse
from quantrl.alpha.dimensions import result_sign
from quantrl.data import load_market
from quantrl.errors import ConfigError, QuantRLError
from quantrl.evaluation.alpha import alphaeval
from quantrl.evaluation.logic import (
    Judge,
    JudgeVerdict,
    LLMJudge,
    RuleBasedJudge,
    parse_judge_reply,
)
from quantrl.evaluation.node_rules import cancelling_node, expr_sign

JUDGE = RuleBasedJudge()


def test_sound_formulas_score_one() -> None:
    for text in (
        "Mean($close, 20) / $close - 1",
        "Corr($close, Log($volume + 1), 10)",
        "($close - Ref($close, 5)) / Ref($close, 5)",
        "Std($close / Ref($close, 1) - 1, 20)",
    ):
        verdict = JUDGE.judge(text)
        assert verdict.score == 1.0, (text, verdict.reasons)
        assert verdict.reasons == ()


def test_price_plus_volume_is_flagged() -> None:
    verdict = JUDGE.judge("($close + $volume) / $open")
    assert verdict.score == pytest.approx(1.0 - JUDGE.unit_penalty)
    assert any("unit mismatch" in r and "volume" in r for r in verdict.reasons)
    two = JUDGE.judge("($close + $volume) / ($high - $volume)")
    assert two.score == pytest.approx(1.0 - 2 * JUDGE.unit_penalty)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Sub($close, $close) / $open", "identically 0"),
        ("Div(Mean($close, 5), Mean($close, 5))", "identically 1"),
        ("Corr($close, $close, 10)", "identically 1"),
        ("Greater($close, $close) / $open", "just its operand"),
        ("If($close > $open, $close, $close) / $open", "equal branches"),
    ],
)
def test_degenerate_constructs(text: str, needle: str) -> None:
    verdict = JUDGE.judge(text)
    assert verdict.score <= 1.0 - JUDGE.degenerate_penalty
    assert any(r.startswith("degenerate") and needle in r for r in verdict.reasons), verdict


@pytest.mark.parametrize(
    ("text", "decided"),
    [
        ("Greater($volume, -1) / Mean($volume, 5)", True),  # always $volume
        ("Less(-0.5, $low) / $close", True),  # always -0.5
        ("Greater(Std($close, 10), -2) / $close", True),  # a std is never below -2
        ("Less(0, $close) / $open", True),  # a price is never 0
        ("Gt($close, 0)", True),  # always 1
        ("Ne(Var($close, 5), -1)", True),
        ("Greater(Std($close, 10), 0) / $close", False),  # a std can be 0
        ("Greater($close, 2) / $open", False),  # a price can be below 2
        ("Greater(Sub($close, $open), -1) / $open", False),  # a difference can be below -1
        ("Lt(Delta($close, 5), 0)", False),
        ("Greater(Mean($close, 5), $open) / $close", False),  # no constant
    ],
)
def test_comparisons_decided_by_sign(text: str, decided: bool) -> None:
    verdict = JUDGE.judge(text)
    found = [r for r in verdict.reasons if "decided by signs" in r]
    assert bool(found) == decided, verdict
    if decided:
        assert verdict.score <= 1.0 - JUDGE.degenerate_penalty


def test_decided_comparisons_really_are_decided() -> None:
    """Each flagged form, evaluated on real prices, equals its decided outcome everywhere."""
    panel = load_market("dow30")
    close, volume = panel.fields["close"], panel.fields["volume"]
    ok = np.isfinite(close) & np.isfinite(volume)
    np.testing.assert_array_equal(evaluate("Greater($volume, -1)", panel)[ok], volume[ok])
    np.testing.assert_array_equal(evaluate("Less(-0.5, $close)", panel)[ok], -0.5)
    np.testing.assert_array_equal(evaluate("Gt($close, 0)", panel)[ok], 1.0)


@pytest.mark.parametrize(
    ("text", "decided"),
    [
        ("Greater($high, $close) / $open", True),  # always $high
        ("Less($low, $open) / $close", True),  # always $low
        ("Less($close, $high) / $open", True),  # always $close
        ("Ge($high, $low)", True),  # always 1
        ("Lt($high, $open)", True),  # always 0
        ("Gt($low, $close)", True),  # always 0
        ("Le($low, $close)", True),  # always 1
        ("Gt($high, $close)", False),  # the close below the high: informative
        ("Le($high, $close)", False),  # the close at the high
        ("Greater($close, $open) / $low", False),  # no order between open and close
        ("Greater($high, Ref($low, 1)) / $close", False),  # a lagged low is another bar's
        ("Greater(Mean($high, 5), $close) / $open", False),
    ],
)
def test_comparisons_decided_by_the_bar(text: str, decided: bool) -> None:
    verdict = JUDGE.judge(text)
    found = [r for r in verdict.reasons if "bar's definition" in r]
    assert bool(found) == decided, verdict
    assert verdict.score == (1.0 - JUDGE.degenerate_penalty if decided else 1.0), verdict


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Greater($close, Max($close, 10)) / $open", "redundant"),  # the Max
        ("Less(Min($close, 10), $close) / $open", "redundant"),  # the Min
        ("Greater($close, Greater($open, $close)) / $low", "redundant"),
        ("Less(Less($close, $open), $open) / $low", "redundant"),
        ("Greater($close, Min($close, 10)) / $open", "degenerate"),  # just $close
        ("Less($close, Max($close, 10)) / $open", "degenerate"),
        ("Greater(Less($open, $close), $close) / $low", "degenerate"),
        ("Greater($close, Max($open, 10)) / $low", None),  # another operand's maximum
        ("Greater($close, Max(Ref($close, 1), 10)) / $low", None),  # a breakout: not decided
        ("Greater(Mean($close, 10), Greater($open, $close)) / $low", None),
        ("Greater($close, Sub($close, $open)) / $low", None),  # not an extremum
    ],
)
def test_extrema_that_take_their_other_operand(text: str, category: str | None) -> None:
    verdict = JUDGE.judge(text)
    found = [r for r in verdict.reasons if "already takes" in r or "never passes" in r]
    if category is None:
        assert not found, verdict
        return
    assert len(found) == 1 and found[0].startswith(category), verdict
    penalty = JUDGE.redundant_penalty if category == "redundant" else JUDGE.degenerate_penalty
    assert verdict.score == pytest.approx(1.0 - penalty), verdict


def _assert_equal_on(panel, text: str, same: str, same_missing: bool = True) -> None:
    """``text`` and ``same`` are equal on the cells (most of them) where both are finite, and
    with ``same_missing`` missing on the same cells."""
    a, b = evaluate(text, panel), evaluate(same, panel)
    if same_missing:
        np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b), err_msg=text)
    ok = np.isfinite(a) & np.isfinite(b)
    assert ok.mean() > 0.9, text
    np.testing.assert_array_equal(a[ok], b[ok], err_msg=text)


def test_extrema_that_take_their_other_operand_really_collapse() -> None:
    """On real prices each flagged form equals the operand or extremum it was judged to be."""
    panel = load_market("dow30")
    pairs = [
        ("Greater($close, Max($close, 10))", "Max($close, 10)"),
        ("Less(Min($close, 10), $close)", "Min($close, 10)"),
        ("Greater($close, Greater($open, $close))", "Greater($open, $close)"),
        ("Greater($close, Min($close, 10))", "$close"),
        ("Less($close, Max($close, 10))", "$close"),
        ("Greater(Less($open, $close), $close)", "$close"),
    ]
    for text, same in pairs:  # a warm-up Min or Max is missing where $close is not
        _assert_equal_on(panel, text, same, same_missing=False)
    informative = evaluate("Greater($close, Max(Ref($close, 1), 10))", panel)
    close = evaluate("$close", panel)
    ok = np.isfinite(informative)
    assert 0.02 < np.mean(informative[ok] == close[ok]) < 0.98  # sometimes the close, not always


def _assert_redundant_once(text: str, marker: str, flagged: bool) -> None:
    """The judge gives ``text`` one redundant finding holding ``marker`` if ``flagged``, else
    none."""
    verdict = JUDGE.judge(text)
    found = [r for r in verdict.reasons if marker in r]
    assert len(found) == flagged, verdict
    if flagged:
        assert found[0].startswith("redundant"), verdict


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Add($volume, $volume) / Mean($volume, 10)", True),  # 2 $volume
        ("Add($close, Mul($close, 2)) / $open", True),  # 3 $close
        ("Sub($high, Sub(-2, $high)) / $low", True),  # 2 $high + 2
        ("Sub($high, Add(0.01, $high)) / $low", True),  # the constant -0.01
        ("Div(Sub($volume, -0.01), $volume)", True),  # 1 + 0.01 / $volume
        ("Div($high, Mul($high, 2))", True),  # the constant 0.5
        ("Greater($volume, Mul(-0.01, $volume)) / Mean($volume, 5)", True),  # $volume
        ("Less($volume, Add(Div($volume, 2), -0.5)) / Mean($volume, 5)", True),
        ("Add(Std($close, 10), Std($close, 10)) / $close", True),  # any expression plus itself
        ("Mul($close, $close) / Mul($open, $open)", False),  # a square stays
        ("Add($close, Mul($open, 2)) / $low", False),  # two fields
        ("Sub(Div($close, $open), Div($open, $close))", False),  # a ratio and its inverse
        ("Div(Add(Mean($close, 5), 1), Mean($close, 5))", True),  # 1 + 1 / Mean($close, 5)
    ],
)
def test_shifts_and_multiples_of_one_field(text: str, flagged: bool) -> None:
    _assert_redundant_once(text, "constant shifts or multiples", flagged)


def test_shifts_and_multiples_of_one_field_really_collapse() -> None:
    """On real prices each flagged form is a fixed function of one field, or a constant."""
    panel = load_market("dow30")
    high, volume, close = (evaluate(f"${f}", panel) for f in ("high", "volume", "close"))
    ok = np.isfinite(high) & np.isfinite(volume) & np.isfinite(close)
    assert ok.mean() > 0.9
    cases = [
        ("Add($close, Mul($close, 2))", 3.0 * close),
        ("Sub($high, Add(0.01, $high))", np.full_like(high, -0.01)),
        ("Div($high, Mul($high, 2))", np.full_like(high, 0.5)),
        ("Greater($volume, Mul(-0.01, $volume))", volume),
        ("Less($volume, Add(Div($volume, 2), -0.5))", volume / 2 - 0.5),
    ]
    for text, expected in cases:
        np.testing.assert_allclose(evaluate(text, panel)[ok], expected[ok], rtol=1e-12, atol=1e-12)
    mixed = evaluate("Greater($close, Mul($high, 0.99))", panel)  # two fields: not decided
    assert 0.02 < np.mean(mixed[ok] == close[ok]) < 0.98


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Ref(Ref($close, 10), 20) / $close", True),  # Ref($close, 30)
        ("Max(Max($volume, 50), 40) / $volume", True),  # Max($volume, 89)
        ("Min(Min($low, 10), 20) / $low", True),
        ("Ref(Ref(Add($close, 1), 10), 20) / $open", True),  # a shift passing through
        ("Max(Min($low, 10), 20) / $low", False),  # the highest low of lows: not one window
        ("Mean(Mean($close, 10), 20) / $close", False),  # triangular weights
        ("Ref(Mean($close, 10), 20) / $close", False),
    ],
)
def test_rolling_operators_that_compose_into_one(text: str, flagged: bool) -> None:
    _assert_redundant_once(text, "is one ", flagged)


def test_rolling_operators_that_compose_really_do() -> None:
    """On real data two nested Refs, Maxes or Mins equal one with the windows combined."""
    panel = load_market("dow30")
    pairs = [
        ("Ref(Ref($close, 10), 20)", "Ref($close, 30)"),
        ("Max(Max($volume, 50), 40)", "Max($volume, 89)"),
        ("Min(Min($low, 10), 20)", "Min($low, 29)"),
    ]
    for text, same in pairs:
        _assert_equal_on(panel, text, same)
    other = evaluate("Max(Min($low, 10), 20)", panel)  # not a window of $low
    low_max = evaluate("Max($low, 29)", panel)
    ok = np.isfinite(other) & np.isfinite(low_max)
    assert np.mean(other[ok] < low_max[ok]) > 0.5


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Div(Sub($low, -10), $close)", True),  # $low + 10
        ("Div(Sub($low, 10), $close)", False),
        ("Div(Add($low, -10), $close)", False),  # the shift written once
        ("Div(Sub(-10, $low), $close)", False),  # -10 - $low is not a sum
        ("Sub(Div($close, $open), 1)", False),  # a return
    ],
)
def test_subtracting_a_negative_constant(text: str, flagged: bool) -> None:
    _assert_redundant_once(text, "subtracts a negative constant", flagged)


def test_a_subtracted_negative_is_a_sum() -> None:
    """``Sub($low, -10)`` is ``Add($low, 10)`` bit for bit on real prices, and both are known
    to be positive (a price less a negative constant)."""
    panel = load_market("dow30")
    np.testing.assert_array_equal(
        evaluate("Sub($low, -10)", panel), evaluate("Add($low, 10)", panel)
    )
    assert expr_sign(parse("Add($low, 10)")) == "pos"
    assert expr_sign(parse("Sub($low, -10)")) == "pos"


def test_comparisons_decided_by_the_bar_on_real_bars() -> None:
    """On real bars the flagged comparisons return one operand or one truth value."""
    panel = load_market("dow30")
    high, low, close = (evaluate(f"${f}", panel) for f in ("high", "low", "close"))
    ok = np.isfinite(high) & np.isfinite(low) & np.isfinite(close)
    # adjusted prices put a close above its high by a rounding error on a few bars
    np.testing.assert_allclose(evaluate("Greater($high, $close)", panel)[ok], high[ok], rtol=1e-12)
    np.testing.assert_allclose(evaluate("Less($low, $close)", panel)[ok], low[ok], rtol=1e-12)
    assert np.mean(evaluate("Ge($high, $low)", panel)[ok]) > 0.999
    assert np.mean(evaluate("Gt($low, $close)", panel)[ok]) < 0.001
    assert 0.0 < np.mean(evaluate("Gt($high, $close)", panel)[ok]) < 1.0  # not decided


@pytest.mark.parametrize(
    ("text", "decided"),
    [
        ("Greater(30, Corr($close, $volume, 10))", True),  # always 30
        ("Greater(1, Corr($close, $volume, 10))", True),  # a correlation never exceeds 1
        ("Less(-1, Corr($close, $volume, 10))", True),  # always -1
        ("Lt(Corr($close, $volume, 10), -2)", True),  # always 0
        ("Eq(Gt($close, $open), 2)", True),  # a truth value is 0 or 1
        ("Greater(0.5, Corr($close, $volume, 10))", False),
        ("Gt(Corr($close, $volume, 10), 1)", True),
        ("Ge(Corr($close, $volume, 10), 1)", False),  # reached at a perfect correlation
        ("Eq(Gt($close, $open), 1)", False),
        ("Lt(1, Corr($close, $volume, 10))", True),  # 1 < corr never holds
        ("Le(1, Corr($close, $volume, 10))", False),
        ("Le(Gt($close, $open), 0)", False),  # the close did not rise
        ("Ge(Gt($close, $open), 0)", True),  # always 1
        ("Greater(2, Mean($close, 5)) / $close", False),  # a price is unbounded
    ],
)
def test_comparisons_decided_by_ranges(text: str, decided: bool) -> None:
    verdict = JUDGE.judge(text)
    found = [r for r in verdict.reasons if "decided by ranges" in r]
    assert bool(found) == decided, verdict
    if decided:
        assert verdict.score <= 1.0 - JUDGE.degenerate_penalty


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Corr(Add(Div($close, $open), 5), $volume, 10)", "constant shift"),
        ("Std(Sub(30, Div($close, $open)), 10)", "constant shift"),
        ("Delta(Sub(Div($volume, Mean($volume, 5)), 2), 5)", "constant shift"),
        ("Corr($open, Mul($close, 0.5), 10)", "constant factor"),
        ("Corr(Div($close, -5), $open, 10)", "constant factor"),
        ("Mul(Add(Add(Div($close, $open), 2), 5), Div($high, $low))", "shifts by a constant twice"),
        (
            "Mul(Sub(10, Add(Div($close, $open), 2)), Div($high, $low))",
            "shifts by a constant twice",
        ),
        ("Std(Ref(Add(Div($close, $open), 2), 5), 10)", "constant shift"),  # through Ref
        ("Corr(Log(Mul($close, 5)), $volume, 10)", "constant shift"),  # log(5x) = log 5 + log x
        ("Corr(Cov($close, Mul($open, 2), 10), $volume, 10)", "constant factor"),  # through Cov
        ("Corr(Mul(Div($close, 2), $volume), $open, 10)", "constant factor"),  # through Mul
        ("Greater(Mul($close, 1), $open) / $open", "multiplies by 1"),
        ("Greater(Div($close, 1), $open) / $open", "multiplies by 1"),
        ("Corr(Div(5, $close), $open, 10)", "constant factor"),  # 5 times 1 / price
        ("Corr(Max(Mul($close, -2), 10), $volume, 10)", "constant factor"),  # -2 Min($close)
        ("Corr(Min(Div($close, 4), 10), $volume, 10)", "constant factor"),
        ("Less(Mul(Mul(Corr($high, $close, 30), 30), -30), 5)", "scales by a constant twice"),
        (
            "Sub(Div($high, $low), Div(-0.5, Mul(Div($low, $open), 2)))",
            "scales by a constant twice",
        ),
        ("Sub(Div(Mul($close, 2), Mul($open, 3)), Div($high, $low))", "scales by a constant twice"),
        (
            "Std(Sub(Add(Div($close, $open), 5), Div($high, $low)), 10)",
            "constant shift",
        ),  # through Sub
        ("Corr(Sub(Corr($close, $volume, 5), 1), $close, 10)", "constant shift"),  # not a return
        ("Std(Add(-1, Corr($close, $volume, 10)), 10)", "constant shift"),
        ("Div(Sub(Div($high, -1), $low), $close)", "divides by -1"),  # Mul($high, -1)
    ],
)
def test_redundant_constants(text: str, needle: str) -> None:
    verdict = JUDGE.judge(text)
    assert verdict.score == pytest.approx(1.0 - JUDGE.redundant_penalty), verdict
    assert needle in verdict.reasons[0]


@pytest.mark.parametrize(
    "text",
    [
        "Mul(Mean(Add(Div($close, $open), 5), 10), Div($high, $low))",  # the mean moves too
        "Greater(Std(Mul($close, 2), 10), $open) / $close",  # a std scales with the factor
        "Std($close / Ref($close, 1) - 1, 20)",  # a return, written as quants write it
        "Std(Add(-1, $close / Ref($close, 5)), 20)",
        "Corr(Div(1, $close), $open, 10)",  # a reciprocal
        "Sub(Div($high, $low), Mul(Div($close, $open), 5))",  # a weighted difference
        "Corr(Max(Mul($close, $volume), 10), $open, 10)",
        "Greater(Gt($high, $close), Gt($close, $open))",
        "Div(Add(Div($close, $open), 2), Add(Div($high, $low), 3))",  # both constants matter
        "Corr(Add($close / $open, -1), $volume, 10)",
        "Div(Add(Mul(Div($close, $open), 2), 5), Div($high, $low))",
        "Div(1, $close) * $open",  # a reciprocal, not a product with 1
        "Corr(Add(Mul($close, 2), $open), $volume, 10)",  # a weighted sum, not a rescaling
        "Corr(Delta(Log($close), 5), $volume, 10)",
    ],
)
def test_constants_that_matter_are_not_redundant(text: str) -> None:
    assert JUDGE.judge(text).score == 1.0, JUDGE.judge(text)


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Mul(Div($close, $open), -5)", True),
        ("Add(Corr($close, $volume, 10), 2)", True),
        ("Div(Div($close, -5), $low)", True),  # the factor passes through the quotient
        ("Mean(Div($close, $open), 5) / 2", True),
        ("Div($close, $open) - 1", False),  # a return
        ("Div(2, $close) * $open", True),  # a factor 2 on open / close
        ("Div(1, $close) * $open", False),
        ("Div($close, $open)", False),
    ],
)
def test_outermost_constants(text: str, flagged: bool) -> None:
    verdict = JUDGE.judge(text)
    found = [r for r in verdict.reasons if "outermost constant" in r]
    assert bool(found) == flagged, verdict
    assert verdict.score == (1.0 - JUDGE.redundant_penalty if flagged else 1.0)


def test_outermost_constants_leave_ranks_unchanged() -> None:
    """A factor and its constant multiple or shift have the same per-date ranks (up to sign)."""
    from quantrl.stats.ic import rank_ic_series

    panel = load_market("dow30")
    label = panel.forward_returns(5)
    base = rank_ic_series(evaluate("Div($close, $open)", panel), label)
    for text, sign in (("Mul(Div($close, $open), -5)", -1.0), ("Add(Div($close, $open), 2)", 1.0)):
        other = rank_ic_series(evaluate(text, panel), label)
        np.testing.assert_array_equal(np.isnan(other), np.isnan(base))
        ok = ~np.isnan(base)
        same = np.isclose(other[ok], sign * base[ok], rtol=1e-12, atol=1e-12)
        assert same.mean() > 0.99  # rounding can make or break an exact tie on a few dates
        assert abs(np.nanmean(other) - sign * np.nanmean(base)) < 1e-4


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Log($close)", "raw level in unit 'log(price)'"),  # ranks of the share price
        ("Ref(Log($volume), 5)", "raw level in unit 'log(volume)'"),
        ("Greater(Log($volume), -1) / $volume", "fixed threshold"),  # log volume is ~15
        ("Corr(Mul(Log($close), $volume), $open, 10)", "log-level"),
        ("Corr(Abs(Log($low)), $open, 10)", "log-level"),
    ],
)
def test_log_levels(text: str, needle: str) -> None:
    verdict = JUDGE.judge(text)
    assert verdict.score < 1.0 and any(needle in r for r in verdict.reasons), verdict


def test_log_level_differences_are_sound() -> None:
    for text in ("Log($high) - Log($low)", "Delta(Log($close), 5)", "Std(Log($close), 20)"):
        assert JUDGE.judge(text).score == 1.0, text
    assert JUDGE.judge("Corr(Log($close), $volume, 10)").score == 1.0


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Less($high, 2) / $close", True),  # splits stocks by share price
        ("Greater(Std($close, 20), 0.5) / $close", True),
        ("Greater(Delta($low, 30), -30) / $close", True),
        ("Gt(Mean($volume, 5), 1000000)", True),
        ("Abs(Sub($close, 5)) / $open", True),  # |price - 5| folds at $5
        ("Sign(Add(Mean($volume, 5), -1000000))", True),
        ("Abs(Sub(Div($close, $open), 1))", False),  # a return's size
        ("Greater(Corr($close, $volume, 10), 0.5)", False),  # unitless
        ("Greater(Div($close, $open), 1)", False),
        ("Gt($close, $open)", False),  # two levels of one unit
    ],
)
def test_raw_levels_against_fixed_thresholds(text: str, flagged: bool) -> None:
    verdict = JUDGE.judge(text)
    found = [r for r in verdict.reasons if "fixed threshold" in r]
    assert bool(found) == flagged, verdict


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Div($close, Add($open, 5))", True),  # $5 on a $10 stock, not on a $500 one
        ("Div(Sub($close, 0.01), $open)", True),
        ("Div(Mean($close, 5), Add($close, 1))", True),
        ("Corr($close, Log(Add($volume, 2)), 5)", True),  # more than one share
        ("Div($volume, Sub(Mean($volume, 5), 1))", True),  # away from 0 is up
        ("Div(Add(Delta($volume, 5), 1), Mean($volume, 5))", True),  # a signed change
        ("Div(Sub(Div(10, $close), 0.5), $volume)", True),  # a reciprocal price is a level
        ("Corr($close, Log(Add($volume, 1)), 5)", False),  # Alpha158's guard against 0
        ("Div(Sub($close, $open), Add(Sub($high, $low), 1e-12))", False),  # an epsilon
        ("Div($volume, Add(Mean($volume, 5), 0.5))", False),
        ("Corr(Add(Div($close, $open), 5), $volume, 10)", False),  # a shifted ratio
        ("Mul(Add(Mul($close, 2), $open), Div(1, $high))", False),  # scaled, not shifted
    ],
)
def test_raw_levels_shifted_by_a_constant(text: str, flagged: bool) -> None:
    verdict = JUDGE.judge(text)
    found = [r for r in verdict.reasons if "shifts a raw level" in r]
    assert bool(found) == flagged, verdict


def test_shifted_levels_move_with_each_symbols_units() -> None:
    """On real prices in other units (x4, one split) a shifted price moves, a guarded volume
    moves by its guard's share only."""
    panel = load_market("dow30")
    other = panel.replace(fields={k: v * 4.0 for k, v in panel.fields.items()})

    def moved(text: str) -> float:
        x, y = evaluate(text, panel), evaluate(text, other)
        ok = np.isfinite(x) & np.isfinite(y)
        return float(np.max(np.abs(x[ok] - y[ok]) / np.maximum(np.abs(x[ok]), 1e-300)))

    assert moved("Div($close, Add($open, 5))") > 1e-3
    assert moved("Div($close, Sub($open, 0.01))") > 1e-5
    assert moved("Div($volume, Add(Mean($volume, 5), 1))") < 1e-4
    assert moved("Div($close, Mul($open, 5))") == 0.0


@pytest.mark.parametrize(
    ("text", "equals"),
    [
        ("Less(Mul($close, -1), $open)", "Mul($close, -1)"),  # always below a price
        ("Greater(Div($volume, -2), Mean($volume, 5))", "Mean($volume, 5)"),
        ("Abs(Mul($close, -2))", "Mul($close, 2)"),  # Abs of a negative quantity
        ("Abs(Mean(Div($low, -0.5), 5))", "Mean(Div($low, 0.5), 5)"),
    ],
)
def test_negative_quantities_on_real_prices(text: str, equals: str) -> None:
    """Sign classes know a negative multiple of a price is negative: a comparison with a
    positive quantity is decided and Abs is a negation; the data agree."""
    _assert_equal_on(load_market("dow30"), text, equals)
    assert JUDGE.judge(f"Div({text}, $close)").score < 1.0


@pytest.mark.parametrize(
    ("text", "simpler"),
    [
        ("Mul($high, Div(-10, $high))", "-10"),
        ("Mul(Div(0.5, $volume), $volume)", "0.5"),
        ("Mul($high, Div($close, $high))", "$close"),
        ("Div(Mul($close, $volume), $volume)", "$close"),
        ("Div(Mul($open, Div($volume, -5)), $volume)", "Div($open, -5)"),
        ("Div(Div($low, $volume), Div(0.01, $volume))", "Div($low, 0.01)"),
        ("Mul(Div($close, $open), Div($open, $high))", "Div($close, $high)"),
        ("Div($volume, Mul(Mean($close, 5), $volume))", "Div(1, Mean($close, 5))"),
        ("Mul($high, Div(-10, $low))", None),
        ("Mul($high, Mean(Div(-10, $high), 5))", None),  # a mean of reciprocals
        ("Div(Mul($close, $close), $open)", None),
        ("Div($high, Div($high, $low))", "$low"),
        ("Div($high, Div($low, $high))", None),  # a square over the low
    ],
)
def test_factors_that_cancel(text: str, simpler: str | None) -> None:
    """A product or quotient with a factor in its numerator and its denominator is flagged
    (degenerate when only a constant is left); on real prices it is the simpler formula."""
    verdict = JUDGE.judge(f"Corr({text}, $close, 10)")
    cancels = [r for r in verdict.reasons if "cancel" in r]
    assert bool(cancels) == (simpler is not None), verdict.reasons
    found = cancelling_node(parse(text))
    assert (found is not None) == (simpler is not None)
    if simpler is None:
        return
    constant = simpler.lstrip("-").replace(".", "").isdigit()
    assert cancels[0].startswith("degenerate" if constant else "redundant")
    panel = load_market("dow30")
    values = evaluate(text, panel)
    same = np.full_like(values, float(simpler)) if constant else evaluate(simpler, panel)
    ok = np.isfinite(values) & np.isfinite(same)
    assert ok.mean() > 0.9
    np.testing.assert_allclose(values[ok], same[ok], rtol=1e-12)


def test_sign_classes_hold_on_real_data() -> None:
    """Every node of 300 random formulas over every operator the miner takes (units off, so
    every operator mix) keeps the sign class ``expr_sign`` gives it, on every cell of real
    prices where it and its operands are finite."""
    from quantrl.alpha import ops
    from quantrl.mining import Vocabulary
    from quantrl.mining.baselines import sample_formula

    panel = load_market("dow30", start="2018-01-01", end="2019-12-31")
    vocab = Vocabulary(
        features=("open", "high", "low", "close", "volume"),
        operators=tuple(name for name, spec in ops.OPERATORS.items() if len(spec.params) < 2),
        units="off",
    )
    rng = np.random.default_rng(11)
    allowed = {
        "pos": lambda v: v > 0,
        "nonneg": lambda v: v >= 0,
        "neg": lambda v: v < 0,
        "nonpos": lambda v: v <= 0,
    }
    seen: set[str] = set()
    classes: set[str] = set()
    for _ in range(300):
        for node in sample_formula(vocab, rng).walk():
            key = str(node)
            if node.kind == "constant" or key in seen:
                continue
            seen.add(key)
            sign = expr_sign(node)
            classes.add(sign)
            if sign == "any":
                continue
            values = evaluate(node, panel)
            ok = np.isfinite(values)  # where the operands are finite too (x / inf is 0)
            for child in node.children:
                if child.kind != "constant":
                    ok &= np.isfinite(evaluate(child, panel))
            values = values[ok]
            assert allowed[sign](values).all(), (key, sign, values.min(), values.max())
    assert classes == {"pos", "nonneg", "neg", "nonpos", "any"}


def test_redundant_constants_really_are_redundant() -> None:
    """On real prices the flagged forms equal their constant-free versions (up to a sign)."""
    panel = load_market("dow30")

    def same(a: str, b: str, sign: float = 1.0) -> None:
        x, y = evaluate(a, panel), evaluate(b, panel)
        ok = np.isfinite(x) & np.isfinite(y)
        assert ok.sum() > 0.5 * x.size
        np.testing.assert_array_equal(np.isfinite(x), np.isfinite(y))
        np.testing.assert_allclose(x[ok], sign * y[ok], rtol=1e-6, atol=1e-9)

    same("Corr(Add($close, 5), $volume, 10)", "Corr($close, $volume, 10)")
    same("Std(Sub(30, $close), 10)", "Std($close, 10)")
    same("Delta(Sub($volume, 2), 5)", "Delta($volume, 5)")
    same("Corr($open, Mul($close, 0.5), 10)", "Corr($open, $close, 10)")
    same("Corr(Div($close, -5), $open, 10)", "Corr($close, $open, 10)", sign=-1.0)
    same("Std(Ref(Add($close, 1), 5), 10)", "Std(Ref($close, 5), 10)")
    same("Div($high, -1)", "Mul($high, -1)")
    same("Corr(Log(Mul($close, 5)), $volume, 10)", "Corr(Log($close), $volume, 10)")
    same(
        "Corr(Cov($close, Mul($open, 2), 10), $volume, 10)",
        "Corr(Cov($close, $open, 10), $volume, 10)",
    )
    corr = evaluate("Corr($close, $volume, 10)", panel)
    ok = np.isfinite(corr)
    np.testing.assert_array_equal(
        evaluate("Greater(30, Corr($close, $volume, 10))", panel)[ok], 30.0
    )
    np.testing.assert_array_equal(evaluate("Less(-1, Corr($close, $volume, 10))", panel)[ok], -1.0)


def test_windows_of_one_and_redundancy() -> None:
    verdict = JUDGE.judge("Mean($close, 1) / $close")
    assert verdict.score == pytest.approx(1.0 - JUDGE.window_penalty)
    assert "window of 1" in verdict.reasons[0]
    assert JUDGE.judge("EMA($close, 1) / $close").score < 1.0
    assert JUDGE.judge("Delta($close, 1) / $close").score == 1.0  # a 1-day change is fine
    redundant = JUDGE.judge("Abs(Abs($close - $open)) / $close")
    assert redundant.score == pytest.approx(1.0 - JUDGE.redundant_penalty)
    assert "repeats Abs" in redundant.reasons[0]


@pytest.mark.parametrize(
    ("text", "redundant"),
    [
        ("Abs(Mul(Delta($close, 10), Delta($close, 10))) / Mul($close, $close)", True),
        ("Abs(Mul(Corr($close, $open, 10), Corr($close, $open, 10)))", True),
        ("Abs(Mul(Delta($close, 10), Delta($close, 20))) / Mul($close, $close)", False),
    ],
)
def test_abs_of_a_square_is_redundant(text: str, redundant: bool) -> None:
    """A product of two identical operands is a square, never negative: its Abs is itself,
    which the judge reports (on real prices the values agree bit for bit); a product of two
    different signed quantities keeps its Abs."""
    verdict = JUDGE.judge(text)
    found = [r for r in verdict.reasons if "Abs of a non-negative quantity" in r]
    assert len(found) == redundant, verdict.reasons
    abs_node = parse(text)
    while abs_node.name != "Abs":
        abs_node = abs_node.children[0]
    panel = load_market("dow30", start="2018-01-01", end="2019-12-31")
    values, inner = evaluate(abs_node, panel), evaluate(abs_node.children[0], panel)
    assert np.array_equal(values, inner, equal_nan=True) == redundant


def test_a_square_has_the_sign_of_a_square() -> None:
    """The sign class of a product of identical operands is that of a square."""
    cases = {"any": "nonneg", "neg": "pos", "pos": "pos", "nonpos": "nonneg", "nonneg": "nonneg"}
    for sign, square in cases.items():
        assert result_sign("Mul", [sign, sign], same=True) == square
    assert result_sign("Mul", ["any", "any"]) == "any"
    assert result_sign("Add", ["any", "any"], same=True) == "any"


def test_constants_only_and_ref_of_constant_score_zero() -> None:
    for text, needle in (
        ("$close + (1 + 2)", "market data"),
        ("Ref(5, 1)", "market-data operand"),
        ("Mean($close, 0)", "window"),
    ):
        verdict = JUDGE.judge(text)
        assert verdict.score == 0.0
        assert "invalid formula" in verdict.reasons[0] and needle in verdict.reasons[0]
    assert JUDGE.judge("5").score == 0.0
    assert "no market data" in JUDGE.judge("5").reasons[0]


def test_look_ahead_scores_zero() -> None:
    verdict = JUDGE.judge("Ref($close, -5) / $close - 1")
    assert verdict.score == 0.0 and "look-ahead" in verdict.reasons[0]


def test_deep_nesting_is_penalised_per_level() -> None:
    inner = "$close / $open"
    text = inner
    for _ in range(8):
        text = f"Mean({text}, 3)"
    expr = parse(text)
    assert expr.depth == 10
    verdict = JUDGE.judge(expr)
    extra = expr.depth - JUDGE.max_depth
    assert verdict.score == pytest.approx(1.0 - JUDGE.depth_penalty * extra)
    assert "deep nesting" in verdict.reasons[0]
    assert RuleBasedJudge(max_depth=10).judge(expr).score == 1.0
    shallow = JUDGE.judge("Mean($close / $open, 3)")
    assert shallow.score == 1.0


def test_raw_levels_lose_a_little() -> None:
    verdict = JUDGE.judge("Mean($close, 20)")
    assert verdict.score == pytest.approx(1.0 - JUDGE.scale_penalty)
    assert "price" in verdict.reasons[0]


def test_judge_protocol_and_alphaeval_uses_it() -> None:
    assert isinstance(JUDGE, Judge)
    rng = np.random.default_rng(0)
    f = rng.normal(size=(10, 8))
    y = rng.normal(size=(10, 8))
    res = alphaeval(f, y, formula="$close + $volume")
    assert res.logic == pytest.approx(1.0 - JUDGE.unit_penalty)
    assert res.logic_reasons and "unit mismatch" in res.logic_reasons[0]

    class Fixed:
        def judge(self, formula: object) -> JudgeVerdict:
            return JudgeVerdict(0.42, ("fixed",))

    assert alphaeval(f, y, formula="$close", judge=Fixed()).logic == 0.42
    with pytest.raises(ConfigError):
        RuleBasedJudge(unit_penalty=2.0)


# ---------------------------------------------------------------------------- LLM judge
class _FakeChat(BaseHTTPRequestHandler):
    """OpenAI-compatible fake: the reply is chosen by the model name in the request."""

    requests: list[dict] = []
    elsewhere = ""  # where the "redirect" model points (another host)

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        type(self).requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        model = body["model"]
        try:
            if self._misbehave(model):
                return
        except (BrokenPipeError, ConnectionResetError):  # the client gave up: as intended
            return
        if model == "broken":
            self._send(500, b'{"error": "internal"}')
            return
        if model == "html":
            self._send(200, b"<html>not json</html>")
            return
        content = {
            "good": '{"score": 0.8, "reasons": ["momentum is a known effect"]}',
            "fenced": 'Sure!\n```json\n{"score": "0.25", "reasons": "mixes units"}\n```\n',
            "prose": "I think it is fine. Score: high, no JSON here.",
            "range": '{"score": 7, "reasons": []}',
        }[model]
        reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
        self._send(200, json.dumps(reply).encode())

    def _misbehave(self, model: str) -> bool:
        """Hostile or broken servers; True when the model name chose one."""
        if model == "redirect":
            self.send_response(302)
            self.send_header("Location", type(self).elsewhere)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif model in ("drip-body", "drip-head"):
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
            if model == "drip-body":
                self.wfile.write(head)
            for byte in head if model == "drip-head" else b"{" * 30:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(1.0)
        elif model == "huge-declared":
            self._send(200, b" " * (5 << 20))
        elif model == "endless":  # no length: the body ends when the connection does
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"x" * (64 << 10)
            for _ in range(16 << 10):  # up to 1 GiB unless the client stops reading
                self.wfile.write(chunk)
        elif model == "long-error":
            self._send(500, b"E" * 200_000)
        elif model == "long-text":
            self._send(200, b"not json " * 50_000)
        elif model == "long-list":
            self._send(200, json.dumps(list(range(100_000))).encode())
        elif model == "long-content":
            reply = {"choices": [{"message": {"content": "prose " * 80_000}}]}
            self._send(200, json.dumps(reply).encode())
        else:
            return False
        return True

    def _send(self, code: int, payload: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture()
def fake_server():
    _FakeChat.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_llm_judge_parses_reply(fake_server: str) -> None:
    judge = LLMJudge(fake_server, "good", api_key="k123", timeout=5)
    verdict = judge.judge("Mean($close, 20) / $close - 1")
    assert verdict.score == pytest.approx(0.8)
    assert verdict.reasons == ("momentum is a known effect",)
    sent = _FakeChat.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["auth"] == "Bearer k123"
    assert "Mean($close, 20) / $close - 1" in sent["body"]["messages"][-1]["content"]
    # a /v1 base url is not doubled; a fenced reply with a string score parses
    fenced = LLMJudge(fake_server + "/v1/", "fenced", timeout=5).judge("$close")
    assert fenced.score == pytest.approx(0.25) and fenced.reasons == ("mixes units",)
    assert _FakeChat.requests[-1]["path"] == "/v1/chat/completions"
    assert _FakeChat.requests[-1]["auth"] is None


def test_llm_judge_fails_clearly(fake_server: str) -> None:
    with pytest.raises(QuantRLError, match="HTTP 500"):
        LLMJudge(fake_server, "broken", timeout=5).judge("$close")
    with pytest.raises(QuantRLError, match="not JSON"):
        LLMJudge(fake_server, "html", timeout=5).judge("$close")
    with pytest.raises(QuantRLError, match="not a JSON object"):
        LLMJudge(fake_server, "prose", timeout=5).judge("$close")
    with pytest.raises(QuantRLError, match=r"outside \[0, 1\]"):
        LLMJudge(fake_server, "range", timeout=5).judge("$close")


def test_llm_judge_unreachable_and_config() -> None:
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(QuantRLError, match="cannot reach"):
        LLMJudge(f"http://127.0.0.1:{port}", "good", timeout=2).judge("$close")
    with pytest.raises(ConfigError):
        LLMJudge("127.0.0.1:8000", "good")
    with pytest.raises(ConfigError):
        LLMJudge("http://127.0.0.1:8000", "")


def test_parse_judge_reply_variants() -> None:
    assert parse_judge_reply('{"score": 1, "reasons": []}').score == 1.0
    v = parse_judge_reply('Here: {"score": 0.5, "reasons": ["a", 2]} done')
    assert v.score == 0.5 and v.reasons == ("a", "2")
    with pytest.raises(QuantRLError, match="numeric 'score'"):
        parse_judge_reply('{"score": "high"}')
    with pytest.raises(QuantRLError, match="not a JSON object"):
        parse_judge_reply("[0.5]")


class _Elsewhere(BaseHTTPRequestHandler):
    """Another host: records whatever reaches it."""

    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        type(self).seen.append({"auth": self.headers.get("Authorization"), "path": self.path})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def elsewhere():
    _Elsewhere.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Elsewhere)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/v1/chat/completions"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_llm_judge_does_not_follow_redirects(fake_server: str, elsewhere: str) -> None:
    _FakeChat.elsewhere = elsewhere
    judge = LLMJudge(fake_server, "redirect", api_key="secret-key", timeout=5)
    with pytest.raises(QuantRLError, match="HTTP 302") as err:
        judge.judge("$close")
    assert "'localhost'" in str(err.value) and "not followed" in str(err.value)
    assert "secret-key" not in str(err.value)
    assert _FakeChat.requests[-1]["auth"] == "Bearer secret-key"  # the configured host has it
    assert _Elsewhere.seen == []  # nothing, key or not, reached the other host


@pytest.mark.parametrize("model", ["drip-body", "drip-head"])
def test_llm_judge_deadline_covers_the_whole_request(fake_server: str, model: str) -> None:
    judge = LLMJudge(fake_server, model, timeout=1.5)
    start = time.monotonic()
    with pytest.raises(QuantRLError, match=r"did not answer within 1.5 s"):
        judge.judge("$close")
    elapsed = time.monotonic() - start
    assert 1.4 <= elapsed < 4.0, elapsed


def test_llm_judge_reply_size_is_capped(fake_server: str) -> None:
    start = time.monotonic()
    with pytest.raises(QuantRLError, match=r"announced a 5242880-byte reply") as declared:
        LLMJudge(fake_server, "huge-declared", timeout=20).judge("$close")
    with pytest.raises(QuantRLError, match=r"more than 1048576 bytes") as streamed:
        LLMJudge(fake_server, "endless", timeout=20).judge("$close")
    # refused at the cap, long before the deadline (the endless body is never read to its end)
    assert time.monotonic() - start < 10
    assert len(str(declared.value)) < 300 and len(str(streamed.value)) < 300
    small = LLMJudge(fake_server, "good", timeout=5, max_reply_bytes=50)
    with pytest.raises(QuantRLError, match="over the 50-byte limit"):
        small.judge("$close")


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ("long-error", "HTTP 500"),
        ("long-text", "not JSON"),
        ("long-list", "unexpected JSON"),
        ("long-content", "not a JSON object"),
    ],
)
def test_llm_judge_errors_quote_little(fake_server: str, model: str, needle: str) -> None:
    with pytest.raises(QuantRLError, match=needle) as err:
        LLMJudge(fake_server, model, timeout=10).judge("$close")
    message = str(err.value)
    assert len(message) < 400, len(message)
    assert "\n" not in message
    assert "characters)" in message  # says how long the quoted text really was


def test_llm_judge_timeout_is_checked() -> None:
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="timeout"):
            LLMJudge("http://127.0.0.1:8000", "m", timeout=bad)


def test_llm_judge_works_inside_a_running_event_loop(fake_server: str) -> None:
    """A notebook runs cells inside an event loop: the judge still answers synchronously."""

    async def cell() -> JudgeVerdict:
        return LLMJudge(fake_server, "good", timeout=5).judge("$close")

    assert asyncio.run(cell()).score == pytest.approx(0.8)
