"""Parser: infix and RPN give the same trees, canonical strings round-trip, errors show positions."""

from __future__ import annotations

import enum
import pickle

import numpy as np
import pytest

from quantrl.alpha import (
    Constant,
    EvalCache,
    Feature,
    Op,
    evaluate,
    parse,
    parse_rpn,
    to_rpn,
    unit_issues,
)
from quantrl.data.panel import Panel
from quantrl.errors import FormulaError

# ---------------------------------------------------------------- trees and canonical strings


def test_canonical_form_and_round_trip() -> None:
    expr = parse("Mean($close, 10) / $close")
    assert str(expr) == "Div(Mean($close,10),$close)"
    assert parse(str(expr)) == expr
    assert hash(parse(str(expr))) == hash(expr)
    assert parse("Div( Mean( $close ,10 ) , $close )") == expr


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1+2*$close", "Add(1,Mul(2,$close))"),
        ("(1+$close)*2", "Mul(Add(1,$close),2)"),
        ("$close-$open-$high", "Sub(Sub($close,$open),$high)"),
        ("$close/$open/$high", "Div(Div($close,$open),$high)"),
        ("-$close/2", "Div(Mul(-1,$close),2)"),
        ("-(-$close)", "Mul(-1,Mul(-1,$close))"),
        ("--2+$close", "Add(2,$close)"),
        ("+$close", "$close"),
        ("$close*-1e-3", "Mul($close,-0.001)"),
        ("$close+1e-12", "Add($close,1e-12)"),
        ("$close*2.5E+3", "Mul($close,2500)"),
        ("$close*.5", "Mul($close,0.5)"),
        ("$close>$open", "Gt($close,$open)"),
        ("$close>=$open", "Ge($close,$open)"),
        ("$close<$open", "Lt($close,$open)"),
        ("$close<=$open", "Le($close,$open)"),
        ("$close==$open", "Eq($close,$open)"),
        ("$close!=$open", "Ne($close,$open)"),
        ("($close>$open)&($high>$low)", "And(Gt($close,$open),Gt($high,$low))"),
        ("($close>$open)|($high>$low)", "Or(Gt($close,$open),Gt($high,$low))"),
        # Python precedence (Qlib evaluates with Python operators): & binds tighter than |
        ("$a|$b&$c", "Or($a,And($b,$c))"),
        # comparisons bind loosest
        ("$close+1>$open*2", "Gt(Add($close,1),Mul($open,2))"),
        ("Ref($close,-5)/$close-1", "Sub(Div(Ref($close,-5),$close),1)"),
        ("EMA($close, 0.5)", "EMA($close,0.5)"),
        ("EMA($close, 10.0)", "EMA($close,10)"),
        ("Pow($close, 2)", "Power($close,2)"),
        ("mean($close, 5)", "Mean($close,5)"),
        ("Mean($close,10d)", "Mean($close,10)"),
        ("Quantile($close, 20, 0.8)", "Quantile($close,20,0.8)"),
        ("If($close>$open, 1, -1)", "If(Gt($close,$open),1,-1)"),
        ("$close", "$close"),
    ],
)
def test_infix_parses_to_expected_tree(text: str, canonical: str) -> None:
    expr = parse(text, allow_future=True)
    assert str(expr) == canonical
    assert parse(canonical, allow_future=True) == expr


def test_rpn_strings_match_infix() -> None:
    infix = parse("Mean($close, 10) / $close")
    assert parse_rpn(["$close", "10", "Mean", "$close", "Div"]) == infix
    assert parse_rpn(["$close", "10d", "Mean", "$close", "Div"]) == infix
    corr = parse("Corr($close, Log($volume), 20) - 0.5")
    assert parse_rpn(["$close", "$volume", "Log", "20", "Corr", "0.5", "Sub"]) == corr
    assert parse_rpn(["BEG", "-1", "$close", "Mul", "SEP"]) == parse("-$close")
    for text in ["Corr($close/Ref($close,1), Log($volume+1), 10)", "Quantile($high,5,0.2)"]:
        expr = parse(text)
        assert parse_rpn(to_rpn(expr)) == expr


class _FeatureType(enum.IntEnum):
    OPEN = 0
    CLOSE = 1
    VOLUME = 4


class _Mean:
    pass


class _Div:
    pass


_Mean.__name__ = "Mean"
_Div.__name__ = "Div"


class _FeatureToken:
    def __init__(self, feature: _FeatureType) -> None:
        self.feature = feature


class _DeltaTimeToken:
    def __init__(self, delta_time: int) -> None:
        self.delta_time = delta_time


class _ConstantToken:
    def __init__(self, constant: float) -> None:
        self.constant = constant


class _OperatorToken:
    def __init__(self, operator: type) -> None:
        self.operator = operator


def test_rpn_accepts_alphagen_token_objects() -> None:
    """Objects shaped like AlphaGen's FeatureToken / DeltaTimeToken / OperatorToken."""
    tokens = [
        _FeatureToken(_FeatureType.CLOSE),
        _DeltaTimeToken(10),
        _OperatorToken(_Mean),
        _FeatureToken(_FeatureType.CLOSE),
        _OperatorToken(_Div),
    ]
    assert parse_rpn(tokens) == parse("Mean($close,10)/$close")
    tokens = [_FeatureToken(_FeatureType.VOLUME), _ConstantToken(2.0), _OperatorToken(_Div)]
    assert str(parse_rpn(tokens)) == "Div($volume,2)"


def test_alphagen_string_form_parses() -> None:
    """AlphaGen prints ``Div(Mean($close,10d),$close)`` and ``Sub(0.0,$close)``."""
    assert parse("Div(Mean($close,10d),$close)") == parse("Mean($close,10)/$close")
    assert str(parse("Sub(0.0,$close)")) == "Sub(0,$close)"


def test_node_attributes() -> None:
    expr = parse("Corr($close, Log($volume+1), 10) + Ref(Mean($high, 5), 3)")
    assert expr.name == "Add"
    assert isinstance(expr, Op) and len(expr.children) == 2
    corr, ref = expr.children
    assert corr.name == "Corr" and corr.params == (10,) and corr.window == 10
    assert corr.lookback == 9 and ref.lookback == 4 + 3 and expr.lookback == 9
    assert expr.features == frozenset({"close", "volume", "high"})
    assert expr.depth == 5  # Add > Corr > Log > Add > $volume
    assert expr.size == 10
    leaf = corr.children[0]
    assert isinstance(leaf, Feature) and leaf.name == "close" and leaf.children == ()
    assert leaf.depth == 1 and leaf.size == 1 and leaf.lookback == 0
    const = parse("$close+1e-12").children[1]
    assert isinstance(const, Constant) and const.value == 1e-12 and const.unit == "const"
    assert parse("Mean(Mean($close, 5), 10)").lookback == 13
    assert parse("Delta(Ref($close, 2), 3)").lookback == 5
    assert expr.future == 0
    with pytest.raises(AttributeError):
        expr.name = "Sub"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("$close", "price"),
        ("$volume", "volume"),
        ("$close*$volume", "price*volume"),
        ("$close/$open", "ratio"),
        ("Mean($close, 5)", "price"),
        ("Var($close, 5)", "price^2"),
        ("Std($close, 5)/$close", "ratio"),
        ("Corr($close, $volume, 5)", "ratio"),
        ("Cov($close, $volume, 5)", "price*volume"),
        ("IdxMax($high, 5)", "count"),
        ("IdxMax($high, 5)/5", "count"),
        ("$close>$open", "bool"),
        ("Mean($close>$open, 5)", "ratio"),
        ("Sum($close>$open, 5)", "count"),
        ("Power($close, 2)", "price^2"),
        ("Power($close, 0.5)", "price^1/2"),
        ("$volume/$close", "volume/price"),
        ("$foo", "unknown"),
        ("CSRank($close)", "ratio"),
        ("Log($close)", "log(price)"),  # a log-level: shifted by log(c) in other units
        ("Log($close/$open)", "ratio"),
        ("Log($high) - Log($low)", "ratio"),  # the shift cancels
        ("Log($close) - Log($volume)", "log(price/volume)"),
        ("Log($high) + Log($low)", "log(price^2)"),
        ("1 - Log($close)", "log(1/price)"),
        ("Log($close) - 1", "log(price)"),
        ("Mean(Log($close), 5)", "log(price)"),
        ("Sum(Log($close), 5)", "log(price^5)"),  # the log of a product of 5
        ("WMA(Log($close), 4)", "log(price^1/4)"),  # Qlib's WMA divides by w
        ("Delta(Log($close), 5)", "ratio"),
        ("Std(Log($close), 5)", "ratio"),
        ("Var(Log($volume), 5)", "ratio"),
        ("Cov(Log($close), $volume, 5)", "volume"),
        ("Corr(Log($close), $volume, 5)", "ratio"),
    ],
)
def test_units(text: str, unit: str) -> None:
    assert parse(text).unit == unit


def test_unit_issues() -> None:
    assert unit_issues(parse("$close+$volume")) == ["Add(price, volume) at Add($close,$volume)"]
    assert unit_issues(parse("Greater($close, $volume)")) == [
        "Greater(price, volume) at Greater($close,$volume)"
    ]
    issues = unit_issues(parse("Mean($close - $volume, 5) / ($high > $volume)"))
    assert issues == [
        "Sub(price, volume) at Sub($close,$volume)",
        "Gt(price, volume) at Gt($high,$volume)",
    ]
    assert unit_issues(parse("Log($close) * $volume")) == [
        "Mul(log(price), volume) at Mul(Log($close),$volume)"
    ]
    assert unit_issues(parse("Abs(Log($low))")) == ["Abs(log(price)) at Abs(Log($low))"]
    assert unit_issues(parse("Log($close) + Corr($close, $open, 5)")) != []
    assert unit_issues(parse("Greater(Log($close), Log($volume))")) != []
    clean = ["($close-$open)/($high-$low+1e-12)", "Corr($close, Log($volume+1), 10)", "$foo+$close"]
    for text in clean:
        assert unit_issues(parse(text)) == [], text


def test_hash_equality_and_pickle() -> None:
    a = parse("Mean($close,10)/$close")
    b = parse_rpn(["$close", "10", "Mean", "$close", "Div"])
    assert a == b and len({a, b}) == 1 and {a: 1}[b] == 1
    assert a != parse("Mean($close,11)/$close")
    assert pickle.loads(pickle.dumps(a)) == a
    label = parse("Ref($close,-5)/$close", allow_future=True)
    assert pickle.loads(pickle.dumps(label)).future == 5
    assert Feature("close") / Op.make("Mean", [Feature("close")], [10]) == parse(
        "$close/Mean($close,10)"
    )


# ---------------------------------------------------------------- malformed formulas


def _pos(text: str, needle: str, nth: int = 0) -> int:
    idx = -1
    for _ in range(nth + 1):
        idx = text.index(needle, idx + 1)
    return idx


MALFORMED = [
    ("", 0, "empty formula"),
    ("   ", 0, "empty formula"),
    ("Mean($close, 10", _pos("Mean($close, 10", "("), "never closed"),
    ("($close+1", 0, "never closed"),
    ("Mean(($close, 10)", _pos("Mean(($close, 10)", ","), "expected ')'"),
    ("$close)", 6, "unexpected ')'"),
    ("Mean($close, 5))", 15, "unexpected ')'"),
    ("Foo($close)", 0, "unknown operator 'Foo'"),
    ("$close + Bar($open, 2)", 9, "unknown operator 'Bar'"),
    ("Mean($close)", 0, "Mean takes 2 argument"),
    ("Add($close)", 0, "Add takes 2 argument"),
    ("Abs($close, $open)", 0, "Abs takes 1 argument"),
    ("Corr($close, $open)", 0, "Corr takes 3 argument"),
    ("Mean($close, 0)", 13, "window must be a positive integer"),
    ("Mean($close, 2.5)", 13, "window must be a positive integer"),
    ("Mean($close, -3)", 13, "window must be a positive integer"),
    ("Std($close, 1)", 12, "window must be an integer >= 2"),
    ("Mean($close, $open)", 13, "window must be a number"),
    ("Quantile($close, 10, 1.5)", 21, "quantile must lie in [0, 1]"),
    ("Ref($close, 0)", 12, "offset must be a non-zero integer"),
    ("Ref($close, -5)", 12, "future"),
    ("$close $open", 7, "after a complete formula"),
    ("Mean($close, 5) 3", 16, "after a complete formula"),
    ("$close + ", 9, "operand was expected"),
    ("$close # 2", 7, "unexpected character '#'"),
    ("close + 1", 0, "unknown name 'close'"),
    ("Mean(5, 10)", 5, "needs a market-data operand"),
    ("Mean 5", 5, "must be followed by '('"),
    ("$a > $b > $c", 8, "chained comparison"),
    ("$close * (", 10, "operand was expected"),
    ("Mean($close,, 5)", 12, "operand was expected"),
    ("1 + 2", 2, "needs at least one operand that depends on market data"),
    ("$close + 1e999", 9, "not finite"),
]


@pytest.mark.parametrize(("text", "position", "message"), MALFORMED)
def test_malformed_formula_reports_position(text: str, position: int, message: str) -> None:
    with pytest.raises(FormulaError) as info:
        parse(text)
    err = info.value
    assert err.position == position, str(err)
    assert message in str(err)
    assert err.formula == text
    if text.strip():
        assert "^" in str(err)  # the caret line shows where


def test_future_reference_allowed_for_labels() -> None:
    label = parse("Ref($close, -20)/$close - 1", allow_future=True)
    assert label.future == 20
    with pytest.raises(FormulaError, match="future"):
        parse(label)  # an Expr that reads the future is rejected without the flag


@pytest.mark.parametrize(
    ("tokens", "position", "message"),
    [
        (["$close", "Mean"], 7, "Mean takes 2 argument"),
        (["$close", "$open"], 7, "leave 2 expressions"),
        (["$close", "10", "Foo"], 10, "unknown operator or token 'Foo'"),
        (["$close", "0", "Mean"], 7, "window must be a positive integer"),
        (["$close", "-5", "Ref"], 7, "future"),
        ([], 0, "empty formula"),
    ],
)
def test_malformed_rpn(tokens: list[str], position: int, message: str) -> None:
    with pytest.raises(FormulaError) as info:
        parse_rpn(tokens)
    assert info.value.position == position
    assert message in str(info.value)


def _panel() -> Panel:
    rng = np.random.default_rng(0)
    close = 10 + np.cumsum(rng.normal(0, 0.1, (30, 3)), axis=0)
    dates = np.datetime64("2022-01-03") + np.arange(30)
    return Panel(dates, ("A", "B", "C"), {"close": close, "volume": rng.lognormal(5, 1, (30, 3))})


def test_unknown_feature_at_evaluation_and_parse_time() -> None:
    panel = _panel()
    with pytest.raises(FormulaError) as info:
        evaluate("Mean($close, 3) + Mean($foo, 5)", panel)
    assert "$foo" in str(info.value)
    assert info.value.position == len("Add(Mean($close,3),Mean(")
    with pytest.raises(FormulaError) as info:
        parse("$close/$bar", fields=["close", "volume"])
    assert info.value.position == 7 and "$bar" in str(info.value)


def test_formulas_are_never_executed_as_python() -> None:
    for text in ["__import__('os')", "$close.__class__", "lambda: 1", "[$close]"]:
        with pytest.raises(FormulaError):
            parse(text)


# ---------------------------------------------------------------- engine


def test_cache_shares_subexpressions_and_results_are_read_only() -> None:
    panel = _panel()
    cache = EvalCache()
    a = evaluate("Mean($close, 5) / $close", panel, cache=cache)
    misses = cache.misses
    b = evaluate("Mean($close, 5) - 1", panel, cache=cache)
    assert cache.hits >= 1 and cache.misses == misses + 1
    assert "Mean($close,5)" in cache
    np.testing.assert_allclose(b + 1, a * np.asarray(panel["close"]), rtol=1e-12)
    assert not a.flags.writeable
    fresh = evaluate("Mean($close, 5) / $close", panel)
    np.testing.assert_array_equal(fresh, a)
    small = EvalCache(max_bytes=a.nbytes * 2)
    for w in range(2, 8):
        evaluate(f"Mean($close, {w})", panel, cache=small)
    assert small.nbytes <= a.nbytes * 2


def test_constant_and_feature_roots() -> None:
    panel = _panel()
    np.testing.assert_array_equal(evaluate("$close", panel), panel["close"])
    assert evaluate(parse("$close") * 0 + 3, panel).shape == (30, 3)
