"""Formula rules: value ranges carried through operators, what they decide, idle guards."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantrl.alpha import evaluate, ops, parse
from quantrl.data import load_market
from quantrl.evaluation.formula_rules import (
    decided_comparisons,
    decided_folds,
    double_negatives,
    formula_refusal,
    idle_signs,
    negated_formula,
    shared_cores,
    value_bounds,
)
from quantrl.evaluation.logic import RuleBasedJudge
from quantrl.evaluation.node_rules import idle_guards, working_guards
from quantrl.mining import Vocabulary
from quantrl.mining.baselines import sample_formula

JUDGE = RuleBasedJudge()
INF = math.inf
#: Every operator the miner's vocabulary takes (Quantile's two parameters aside), units off.
ALL_OPERATORS = Vocabulary(
    features=("open", "high", "low", "close", "volume"),
    operators=tuple(name for name, spec in ops.OPERATORS.items() if len(spec.params) < 2),
    units="off",
)


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("$close", (0.0, INF)),  # a field: its sign class
        ("Corr($close, $open, 10)", (-1.0, 1.0)),  # a bounded operator
        ("Med(Corr($close, $volume, 20), 20)", (-1.0, 1.0)),  # averages keep the range
        ("Ref(Min(Rank($close, 5), 10), 3)", (0.0, 1.0)),
        ("Add(Corr($close, $open, 10), -30)", (-31.0, -29.0)),  # shifts move it
        ("Sub(2, Rank($close, 5))", (1.0, 2.0)),
        ("Mul(Corr($close, $open, 10), -2)", (-2.0, 2.0)),  # factors scale it
        ("Div(Rank($close, 5), -4)", (-0.25, 0.0)),
        ("Mul(Rank($close, 5), Corr($close, $open, 10))", (-1.0, 1.0)),
        ("Sum(Rank($close, 5), 4)", (0.0, 4.0)),  # a full window of 4
        ("WMA(Corr($close, $open, 10), 10)", (-0.1, 0.1)),  # Qlib's WMA divides by w
        ("Delta(Corr($close, $open, 10), 5)", (-2.0, 2.0)),
        ("Abs(Add(Corr($close, $open, 10), 0.5))", (0.0, 1.5)),
        ("Greater(Rank($close, 5), 0.5)", (0.5, 1.0)),
        ("Less(Corr($close, $open, 10), -2)", (-2.0, -2.0)),
        ("Log(Add(Rank($close, 5), 1))", (0.0, math.log(2.0))),
        ("Std(Corr($close, $open, 10), 20)", (0.0, math.sqrt(20 / 19))),  # sample std, ddof 1
        ("Var(Rank($close, 5), 2)", (0.0, 0.5)),  # 0 and 1: a sample variance of 0.5
        ("Mad(Sub(Corr($close, $open, 10), 3), 10)", (0.0, 1.0)),
        ("Cov(Rank($close, 5), Corr($close, $open, 5), 4)", (-2 / 3, 2 / 3)),
        ("Std($close, 10)", (0.0, INF)),
        ("Add($close, Corr($close, $open, 10))", (-1.0, INF)),
        ("Div($close, $open)", (0.0, INF)),  # only the sign class is known
        ("Sub($close, $open)", (-INF, INF)),
    ],
)
def test_value_bounds_by_hand(text: str, bounds: tuple[float, float]) -> None:
    assert value_bounds(parse(text)) == pytest.approx(bounds)


def test_value_bounds_hold_on_real_data() -> None:
    """Every node of 300 random formulas over every operator (units off) stays within the
    bounds ``value_bounds`` gives it, on every finite cell of real prices; and every comparison,
    Abs or Sign the rules call decided there really always picks one side, keeps or negates its
    operand, or gives one value."""
    panel = load_market("dow30", start="2018-01-01", end="2019-12-31")
    rng = np.random.default_rng(12)
    seen: set[str] = set()
    bounded = decided = 0
    for _ in range(300):
        expr = sample_formula(ALL_OPERATORS, rng)
        found = set(decided_comparisons(expr)) | {text for text, _ in decided_folds(expr)}
        for node in expr.walk():
            key = str(node)
            if node.kind == "constant" or key in seen:
                continue
            seen.add(key)
            lo, hi = value_bounds(node)
            values = evaluate(node, panel)
            finite = values[np.isfinite(values)]
            if math.isfinite(lo) or math.isfinite(hi):
                bounded += 1
                slack = 1e-9 * max(1.0, abs(lo) if math.isfinite(lo) else 0.0)
                assert (finite >= lo - slack).all(), (key, lo, finite.min())
                slack = 1e-9 * max(1.0, abs(hi) if math.isfinite(hi) else 0.0)
                assert (finite <= hi + slack).all(), (key, hi, finite.max())
            if key in found:
                decided += 1
                _assert_decided(node, values, panel)
    assert bounded > 300 and decided >= 5, (bounded, decided)


def test_spread_bounds_are_reached_on_real_data() -> None:
    """A window of 2 of a 0/1 series reaches the bounds of a sample std (ddof 1), variance and
    mean absolute deviation of values in [0, 1]: half of them at each end."""
    panel = load_market("dow30", start="2018-01-01", end="2019-12-31")
    for text in ("Std(Gt($close, Ref($close, 1)), 2)", "Var(Gt($close, Ref($close, 1)), 2)"):
        values = evaluate(parse(text), panel)
        assert np.nanmax(values) == pytest.approx(value_bounds(parse(text))[1], rel=1e-12)
    mad = "Mad(Gt($close, Ref($close, 1)), 2)"
    assert np.nanmax(evaluate(parse(mad), panel)) == pytest.approx(0.5, rel=1e-12)
    assert value_bounds(parse(mad)) == (0.0, 0.5)


def _assert_decided(node, values: np.ndarray, panel) -> None:
    """A decided Greater or Less equals one operand wherever both are finite, a decided Abs its
    operand or its negation; a decided Gt .. Ne or Sign takes one value."""
    ok = np.isfinite(values)
    if node.name == "Abs":
        inner = evaluate(node.children[0], panel)[ok]
        assert np.array_equal(values[ok], inner) or np.array_equal(values[ok], -inner), str(node)
    elif node.name in ("Greater", "Less"):
        sides = [np.broadcast_to(evaluate(c, panel), values.shape) for c in node.children]
        ok &= np.isfinite(sides[0]) & np.isfinite(sides[1])
        assert any(np.array_equal(values[ok], side[ok]) for side in sides), str(node)
    else:
        assert np.unique(values[ok]).size <= 1, str(node)


def _assert_refused(expr, marker: str, reason: str, node: str | None, prefix: str) -> None:
    """With ``node``, the judge reports it once (the one reason holding ``marker``, starting
    with ``prefix``) and the pool refuses the formula for ``reason`` naming it; without, the
    judge is silent on ``marker`` and the pool does not refuse the formula."""
    reasons = JUDGE.judge(expr).reasons
    found = [r for r in reasons if marker in r]
    assert len(found) == (node is not None), reasons
    assert formula_refusal(expr) == (None if node is None else (reason, node))
    if node is not None:
        assert found[0].startswith(prefix), found[0]


@pytest.mark.parametrize(
    ("text", "idle"),
    [
        ("Div(Mean(Add($volume, 1), 10), $volume)", "Add($volume,1)"),  # in a numerator
        ("Greater(Add($volume, 0.5), Mean($volume, 10))", "Add($volume,0.5)"),
        ("Div(Mul(Add($volume, 1), $close), Mul($volume, $open))", "Add($volume,1)"),
        ("Div(Sub(Add(Sub($high, $low), 1e-12), $open), $close)", "Add(Sub($high,$low),1e-12)"),
        ("Div(Log(Add($volume, 1)), Log(Mean($volume, 10)))", None),  # under a Log
        ("Div($close, Mul(Add($volume, 1), $open))", None),  # in a denominator's product
        ("Div(Sub($close, $open), Add(Sub($high, $low), 1e-12))", None),  # Alpha158's KMID
        ("Div($volume, Mean(Add($volume, 1), 10))", None),  # a mean in a denominator
        ("Mul($close, Power(Add($volume, 1), -1))", None),  # a Power's base
        ("Div(Add($volume, 5), Mean($volume, 10))", None),  # 5 shares: a shifted level
    ],
)
def test_guards_that_guard_nothing(text: str, idle: str | None) -> None:
    """A guard against 0 (an epsilon, at most one share added to a volume) is redundant where
    no Log, denominator or Power lies above it; it stays silent where one does."""
    expr = parse(text)
    assert idle_guards(expr) == ([] if idle is None else [idle])
    _assert_refused(expr, "guards against 0", "idle guard", idle, "redundant")


@pytest.mark.parametrize(
    ("text", "working"),
    [
        ("Div(Log(Add($volume, 1)), Log(Mean($volume, 10)))", ["Add($volume,1)"]),
        ("Div($close, Mul(Add($volume, 1), $open))", ["Add($volume,1)"]),
        ("Div(Sub($close, $open), Add(Sub($high, $low), 1e-12))", ["Add(Sub($high,$low),1e-12)"]),
        ("Mul($close, Power(Add($volume, 1), -1))", ["Add($volume,1)"]),
        ("Div(Mean(Add($volume, 1), 10), $volume)", []),  # guards nothing
        ("Div(Add($volume, 5), Mean($volume, 10))", []),  # 5 shares: not a guard
        # the same guard twice, once under a Log and once not: listed by each function
        ("Div(Mean(Add($volume, 1), 10), Log(Add($volume, 1)))", ["Add($volume,1)"]),
    ],
)
def test_guards_that_guard_something(text: str, working: list[str]) -> None:
    """``working_guards`` lists the guards a Log, denominator or Power lies above."""
    expr = parse(text)
    assert working_guards(expr) == working
    if text.startswith("Div(Mean(Add($volume, 1), 10), Log"):
        assert idle_guards(expr) == ["Add($volume,1)"]


@pytest.mark.parametrize(
    ("text", "decided"),
    [
        (
            "Greater(2, Med(Corr($close, $volume, 20), 20))",
            "Greater(2,Med(Corr($close,$volume,20),20))",
        ),
        ("Less(Add(Corr($high, $open, 30), -5), 1)", "Less(Add(Corr($high,$open,30),-5),1)"),
        ("Greater(Add(30, Div($low, $close)), 10)", "Greater(Add(30,Div($low,$close)),10)"),
        ("Mul(Gt(Add(Rank($close, 10), 3), 2), $close)", "Gt(Add(Rank($close,10),3),2)"),
        (
            "Less(Mul(Std($open, 40), -5), Mad($close, 30))",
            "Less(Mul(Std($open,40),-5),Mad($close,30))",
        ),
        (  # a std of correlations over 20 days stays below sqrt(20/19)
            "Greater(2, Std(Corr($close, $volume, 10), 20))",
            "Greater(2,Std(Corr($close,$volume,10),20))",
        ),
        ("Greater(0.5, Std(Corr($close, $volume, 10), 20))", None),
        ("Greater(0.5, Med(Corr($close, $volume, 20), 20))", None),  # inside the range
        ("Less(Add(Corr($high, $open, 30), 0.5), 1)", None),
        ("Greater(Div($low, $close), 0.9)", None),  # a ratio's range is unknown above 0
        ("Ge(Rank($close, 10), 1)", None),  # the bound is reachable: 1 on a window top
    ],
)
def test_comparisons_decided_by_ranges(text: str, decided: str | None) -> None:
    """A comparison the operands' ranges decide is degenerate for the judge, and the miner's
    pool refuses it unevaluated; one the ranges leave open is silent."""
    expr = parse(text)
    assert decided_comparisons(expr) == ([] if decided is None else [decided])
    marker = "by the ranges of its operands"
    _assert_refused(expr, marker, "decided", decided, f"degenerate: {decided} is decided")


def test_judge_reports_a_decided_comparison_once() -> None:
    """A comparison the node rules already decide (a constant beyond a bounded operator's
    range) is not reported a second time by the formula rule."""
    reasons = JUDGE.judge("Greater(-1, Corr($close, $open, 10))").reasons
    assert len(reasons) == 1 and "decided by ranges: its constant" in reasons[0], reasons
    assert formula_refusal(parse("Greater(-1, Corr($close, $open, 10))"))[0] == "decided"


@pytest.mark.parametrize(
    ("text", "fold"),
    [
        (
            "Abs(Add(Corr($close, $open, 10), 30))",
            ("Abs(Add(Corr($close,$open,10),30))", "its operand"),
        ),
        (
            "Abs(Sub(-10, Min(Corr($close, $open, 30), 40)))",
            ("Abs(Sub(-10,Min(Corr($close,$open,30),40)))", "its operand's negation"),
        ),
        (
            "Sign(Add(Corr($close, $open, 10), 30))",
            ("Sign(Add(Corr($close,$open,10),30))", "the constant 1"),
        ),
        ("Sign(Div($close, $open))", ("Sign(Div($close,$open))", "the constant 1")),  # positive
        ("Sign(Mul($volume, -2))", ("Sign(Mul($volume,-2))", "the constant -1")),
        ("Abs(Add(Corr($close, $open, 10), 0.5))", None),  # changes sign
        ("Sign(Add(Rank($close, 10), -1))", None),  # -1 or 0: the bound is reachable
        ("Abs($volume)", None),  # the node rules' (sign class): reported once, by them
        ("Sign(Std($close, 10))", None),  # 0 on a flat window
    ],
)
def test_abs_and_sign_decided_by_ranges(text: str, fold: tuple[str, str] | None) -> None:
    """Abs of a quantity whose range never changes sign is that quantity or its negation (a
    redundant Abs); Sign of an always positive or always negative one is a constant
    (degenerate). The pool refuses both."""
    expr = parse(text)
    assert decided_folds(expr) == ([] if fold is None else [fold])
    prefix = "redundant" if text.startswith("Abs") else "degenerate"
    _assert_refused(expr, "never changes sign", "decided", fold and fold[0], prefix)
    if fold is not None:
        panel = load_market("dow30", start="2018-01-01", end="2019-12-31")
        _assert_decided(expr, evaluate(expr, panel), panel)


_RATIO = "Div($close, $open)"
_CORR = "Corr($close, $open, 10)"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (f"Sub({_CORR}, Mul({_CORR}, 2))", "function"),  # minus the Corr
        (f"Less({_CORR}, Mul({_CORR}, 2))", "function"),  # the Corr changes sign: undecided
        (f"Div(Add({_CORR}, 2), {_CORR})", "function"),
        (f"Sub({_RATIO}, Add({_RATIO}, 0.5))", "constant"),  # -0.5
        (f"Sub({_RATIO}, Sub({_RATIO}, 1))", "constant"),  # a ratio less its return: 1
        (f"Add(Mul({_RATIO}, -2), Mul({_RATIO}, 2))", "constant"),  # 0
        (f"Greater({_RATIO}, Mul({_RATIO}, 2))", "operand"),  # a ratio is >= 0: twice it
        (f"Gt({_CORR}, Add({_CORR}, 1))", "constant"),  # 0
        (f"Mul({_CORR}, Mul({_CORR}, 2))", None),  # a square: not a shift or multiple
        (f"Sub(Mean({_CORR}, 5), {_CORR})", None),  # a deviation from the mean
        ("Sub(Div($close, $open), Div($close, $low))", None),  # two different ratios
    ],
)
def test_two_shifts_or_multiples_of_one_expression(text: str, what: str | None) -> None:
    """A sum, difference, quotient or comparison of two constant shifts or multiples of one
    operator expression is a function of it alone (redundant), or a constant or one operand
    when the terms cancel or its range decides the comparison (degenerate); the judge reports
    it once and the pool refuses it; on real prices the values bear it out."""
    expr = parse(text)
    found = shared_cores(expr)
    assert [w for _, _, w in found] == ([] if what is None else [what])
    prefix = "redundant" if what == "function" else "degenerate"
    node = str(expr) if what is not None else None
    _assert_refused(expr, "constant shifts or multiples of", "shared core", node, prefix)
    if what is None:
        return
    panel = load_market("dow30", start="2018-01-01", end="2019-12-31")
    values = evaluate(expr, panel)
    core = evaluate(parse(found[0][1]), panel)
    ok = np.isfinite(values) & np.isfinite(core)
    if what == "constant":
        assert np.allclose(values[ok], values[ok][0], rtol=0.0, atol=1e-12), text
    elif what == "operand":
        _assert_decided(expr, values, panel)
    else:  # one value of the core gives one value of the node
        order = np.argsort(core[ok], kind="stable")
        steps = np.diff(core[ok][order]) == 0.0
        assert np.array_equal(np.diff(values[ok][order])[steps], np.zeros(steps.sum())), text


def test_shifts_of_one_field_are_the_node_rules_alone() -> None:
    """Two shifts or multiples of one field are the node rules' finding: the judge reports them
    once and the grammar refuses them, so the formula rule leaves them out."""
    expr = parse("Sub($high, Add($high, 0.01))")
    assert shared_cores(expr) == []
    found = [r for r in JUDGE.judge(expr).reasons if "multiples of $high" in r]
    assert len(found) == 1, JUDGE.judge(expr).reasons
    assert formula_refusal(expr) is None


def test_judge_reports_a_cancelling_quotient_of_one_expression_once() -> None:
    """A quotient whose factors cancel is reported once, by the node rules, though its operands
    are also multiples of one expression; the pool gives the first reason."""
    expr = parse(f"Div(Mul({_CORR}, 2), {_CORR})")
    reasons = JUDGE.judge(expr).reasons
    assert len([r for r in reasons if "Div(Mul(Corr" in r]) == 1, reasons
    assert formula_refusal(expr)[0] == "cancels"


def _assert_same_bits(node: str, simpler: str, *, negated: bool = False) -> None:
    """On real prices ``node`` equals its ``simpler`` form (minus it, ``negated``) bit for bit
    (NaN where it is NaN)."""
    panel = load_market("dow30", start="2018-01-01", end="2019-12-31")
    values, plain = evaluate(parse(node), panel), evaluate(parse(simpler), panel)
    assert np.isfinite(values).mean() > 0.5
    assert np.array_equal(values, -plain if negated else plain, equal_nan=True), node


def _assert_sign_finding(expr, found, marker: str, reason: str, node, simpler) -> None:
    """A negation rule's findings ``found`` on ``expr``: ``node`` alone (or none), reported
    once by the judge (``marker``) and refused by the pool for ``reason``, with its ``simpler``
    form equal to it bit for bit on real prices."""
    _assert_refused(expr, marker, reason, node, "redundant")
    assert [f.node for f in found] == ([] if node is None else [node])
    if node is not None:
        assert found[0].simpler == simpler
        _assert_same_bits(node, simpler)


_MINED = "Corr(Log(Add({},WMA(EMA($low,10),40))),EMA(Std(Log($high),50),30),40)"


@pytest.mark.parametrize(
    ("text", "node", "simpler"),
    [
        (_MINED.format("Std(Mul($high,-1),40)"), "Std(Mul($high,-1),40)", "Std($high,40)"),
        (
            "Div(Sub(Mad(Mean(Div($close,-5),10),20),Std($close,20)),$close)",
            "Mad(Mean(Div($close,-5),10),20)",
            "Mad(Mean(Div($close,5),10),20)",
        ),
        (
            "Div(Sub(Abs(Sub(Mul($close,-1),Mul($open,-2))),$high),$low)",
            "Abs(Sub(Mul($close,-1),Mul($open,-2)))",
            "Abs(Sub($close,Mul($open,2)))",
        ),
        (
            "Sub(Var(Delta(Div(-5,$close),5),10),Var(Div(1,$close),10))",
            "Var(Delta(Div(-5,$close),5),10)",
            "Var(Delta(Div(5,$close),5),10)",
        ),
        (  # two negations: the signs cancel
            "Sub(Cov(Mul($close,-1),Div($open,-2),10),Cov($close,$high,10))",
            "Cov(Mul($close,-1),Div($open,-2),10)",
            "Cov($close,Div($open,2),10)",
        ),
        (  # a negation less anything: -(high + low)
            _MINED.format("Std(Sub(Mul($high,-1),$low),40)"),
            "Std(Sub(Mul($high,-1),$low),40)",
            "Std(Add($high,$low),40)",
        ),
        (  # the Min of a negation is minus the Max
            _MINED.format("Std(Min(Mul($low,-1),10),40)"),
            "Std(Min(Mul($low,-1),10),40)",
            "Std(Max($low,10),40)",
        ),
        (  # the Greater of two negations is minus the Less
            "Sub(Mad(Greater(Mul($close,-1),Ref(Div($open,-2),5)),10),Std($close,10))",
            "Mad(Greater(Mul($close,-1),Ref(Div($open,-2),5)),10)",
            "Mad(Less($close,Ref(Div($open,2),5)),10)",
        ),
        (  # the Corr of a negation is minus a Corr
            "Div(Std(Corr(Div($close,-5),$volume,10),20),Mean(Corr($close,$volume,10),20))",
            "Std(Corr(Div($close,-5),$volume,10),20)",
            "Std(Corr(Div($close,5),$volume,10),20)",
        ),
        (_MINED.format("Std(Mul($high,2),40)"), None, None),  # no negative constant
        (_MINED.format("Mean(Mul($high,-1),40)"), None, None),  # a Mean keeps the sign
        (_MINED.format("Std(Add(Mul($high,-1),$low),40)"), None, None),  # low - high
        (_MINED.format("Std(Greater(Mul(Delta($high,5),-1),Delta($low,5)),40)"), None, None),
    ],
)
def test_a_sign_an_operator_ignores(text: str, node: str | None, simpler: str | None) -> None:
    """A negative constant beneath an operator blind to sign (or two beneath one blind to a
    flip of both operands) is idle: the judge reports it once, with the node written without
    the sign, and the pool refuses it; on real prices the two are equal, bit for bit."""
    expr = parse(text)
    _assert_sign_finding(expr, idle_signs(expr), "ignores the sign of", "idle sign", node, simpler)
    if node is not None:
        reasons = [r for r in JUDGE.judge(expr).reasons if "ignores the sign of" in r]
        assert reasons[0].endswith(f": it is {simpler}"), reasons


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("Kurt(Mul($close,-2),20)", "Kurt(Mul($close,-2),20)"),  # a factor only changes sign
        ("Abs(Mul($close,-2))", "Abs(Mul($close,-2))"),  # Abs of a non-positive quantity
        ("Div(Std(Mul($high,-1),40),$close)", "Std(Mul($high,-1),40)"),  # the outermost -1
    ],
)
def test_an_idle_sign_the_node_rules_report_is_reported_once(text: str, node: str) -> None:
    """Where a node rule already reports the constant (a factor a scale-free operator ignores,
    an Abs of a sign-definite quantity, the outermost constant factor), the judge does not
    report its sign again; the pool still refuses the formula as ``"idle sign"``."""
    expr = parse(text)
    reasons = JUDGE.judge(expr).reasons
    assert not [r for r in reasons if "ignores the sign of" in r], reasons
    assert [r for r in reasons if r.startswith("redundant")], reasons
    assert formula_refusal(expr) == ("idle sign", node)


@pytest.mark.parametrize(
    ("text", "node", "simpler"),
    [
        (
            "Div(Sub($open,Div($close,-5)),$high)",
            "Sub($open,Div($close,-5))",
            "Add($open,Div($close,5))",
        ),
        (
            "Div(Sub(Max($low,50),Mul(-0.5,$high)),$close)",
            "Sub(Max($low,50),Mul(-0.5,$high))",
            "Add(Max($low,50),Mul(0.5,$high))",
        ),
        (
            "Div(Sub($open,EMA(Mul($close,-1),10)),$high)",
            "Sub($open,EMA(Mul($close,-1),10))",
            "Add($open,EMA($close,10))",
        ),
        (  # a negation less something is a negation too: -(close + open)
            "Div(Sub($high,Sum(Sub(Mul(-1,$close),$open),30)),$low)",
            "Sub($high,Sum(Sub(Mul(-1,$close),$open),30))",
            "Add($high,Sum(Add($close,$open),30))",
        ),
        (  # the Max of a negation is minus the Min
            "Div(Sub($open,Med(Max(Mul(-2,$close),20),50)),$low)",
            "Sub($open,Med(Max(Mul(-2,$close),20),50))",
            "Add($open,Med(Min(Mul(2,$close),20),50))",
        ),
        ("Div(Add($open,Div($close,-5)),$high)", None, None),  # a weighted difference
        (  # minus a fifth, less the open, added to something
            "Add(Div(Sub(Div($close,-5),$open),$high),Div($low,$close))",
            None,
            None,
        ),
    ],
)
def test_a_subtracted_negation(text: str, node: str | None, simpler: str | None) -> None:
    """Subtracting a negation adds its positive form: the judge reports it once, with the sum,
    and the pool refuses it; on real prices the difference equals the sum, bit for bit."""
    expr = parse(text)
    found = double_negatives(expr)
    _assert_sign_finding(expr, found, "subtracts the negation", "double negative", node, simpler)
    if node is not None:
        assert f"{node} subtracts the negation" in " ".join(JUDGE.judge(expr).reasons)


@pytest.mark.parametrize(
    ("text", "simpler"),
    [
        ("Div(Sub(Div($close,-5),$open),$high)", "Div(Add(Div($close,5),$open),$high)"),
        ("Div(Sub(Mul($high,-1),$low),$close)", "Div(Add($high,$low),$close)"),
        (
            "Mean(Div(Sub(Min(Mul($low,-1),10),$open),$close),5)",
            "Mean(Div(Add(Max($low,10),$open),$close),5)",
        ),
        (  # a Corr is odd in each operand
            "Corr(Sub(Mul($close,-1),$low),$volume,10)",
            "Corr(Add($close,$low),$volume,10)",
        ),
        (  # a negative number less something is minus a sum
            "Div(Sub(-10,Corr($close,$low,10)),Std($close,10))",
            "Div(Add(10,Corr($close,$low,10)),Std($close,10))",
        ),
        ("Add(Div(Sub(Div($close,-5),$open),$high),Div($low,$close))", None),  # a sum
        ("Div(Add(Corr($close,$low,10),-1),Std($close,10))", None),  # a shift
        ("Div(Greater(Mul($high,-1),Delta($low,5)),$close)", None),  # one side negated
    ],
)
def test_a_negated_formula(text: str, simpler: str | None) -> None:
    """A formula that is a negation as a whole has the per-date ranks of its positive form up
    to sign: the judge reports it once, with that form, and the pool refuses it; on real prices
    the formula is minus that form, bit for bit."""
    expr = parse(text)
    node = None if simpler is None else text
    _assert_refused(expr, "the formula is minus", "negated", node, "redundant")
    found = negated_formula(expr)
    assert (found is None) == (simpler is None)
    if found is not None:
        assert found.simpler == simpler
        _assert_same_bits(text, simpler, negated=True)


def test_a_negated_formula_the_node_rules_report_is_reported_once() -> None:
    """An outermost constant factor (through a Min and a Mean too), or a division by -1, is
    reported by the node rules alone; the pool still refuses the formula as negated."""
    for text in (
        "Mul(Div($close,$open),-5)",
        "Mean(Div(Min(Mul($low,-1),10),$close),5)",
        "Div(Sub(Div($high,-1),$low),$close)",
    ):
        expr = parse(text)
        reasons = JUDGE.judge(expr).reasons
        assert not [r for r in reasons if "the formula is minus" in r], reasons
        assert len(reasons) == 1 and reasons[0].startswith("redundant"), reasons
        assert formula_refusal(expr) == ("negated", text)
