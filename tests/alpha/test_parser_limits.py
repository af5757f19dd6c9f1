"""Formula limits: windows, offsets and nesting depth are refused at parse time, never overflow.

Plus Hypothesis properties: random text, token soups and mutated formulas raise nothing but
FormulaError, and every formula that parses round-trips through its canonical string.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantrl.alpha import Feature, Op, evaluate, parse, parse_rpn, to_rpn
from quantrl.alpha.alpha158 import alpha158_formulas, alpha360_formulas
from quantrl.alpha.ops import MAX_DEPTH, MAX_WINDOW, OPERATORS
from quantrl.data.panel import Panel
from quantrl.errors import FormulaError


def _panel() -> Panel:
    rng = np.random.default_rng(3)
    close = 10 + np.cumsum(rng.normal(0, 0.1, (40, 3)), axis=0)
    dates = np.datetime64("2022-01-03") + np.arange(40)
    return Panel(dates, ("A", "B", "C"), {"close": close, "volume": rng.lognormal(5, 1, (40, 3))})


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("Mean($close, 1e19)", 13, "window 1e+19 is too long"),
        ("Mean($close, 9223372036854775808)", 13, "too long"),
        ("Sum($close, 18446744073709551616)", 12, "too long"),
        (f"Mean($close, {MAX_WINDOW + 1})", 13, f"at most {MAX_WINDOW} rows"),
        ("Ref($close, 1e30)", 12, "offset 1e+30 is too long"),
        ("Ref($close, -1e30)", 12, "too long"),
        ("Delta($close, 1e19)", 14, "lag 1e+19 is too long"),
        ("EMA($close, 1e300)", 12, "span 1e+300 is too long"),
        ("EMA($close, 1e-9)", 12, "smoothing factor 1e-09 implies a window longer"),
        ("Corr($close, $volume, 1e19)", 22, "too long"),
        ("Quantile($close, 1e19, 0.5)", 17, "too long"),
        ("Mean($close, 2.5)", 13, "window must be a positive integer"),
        ("Mean($close, 100000.5)", 13, "window must be a positive integer"),
        ("Std($close, 1)", 12, "window must be an integer >= 2"),
        ("Kurt($close, 4)", 13, "window must be an integer >= 5"),
        ("Delta($close, 0.5)", 14, "lag must be a positive integer"),
    ],
)
def test_absurd_or_invalid_windows_are_refused_at_parse_time(text, position, message):
    with pytest.raises(FormulaError) as info:
        parse(text, allow_future=True)
    assert info.value.position == position, str(info.value)
    assert message in str(info.value)
    # the same limits hold for RPN and for trees built in Python
    with pytest.raises(FormulaError):
        evaluate(text, _panel())


def test_largest_window_is_accepted_and_evaluates_to_nan_on_short_panels():
    expr = parse(f"Mean($close, {MAX_WINDOW})")
    assert expr.lookback == MAX_WINDOW - 1
    assert np.isnan(evaluate(expr, _panel())).all()  # a window longer than the panel: no value


def test_rpn_and_python_trees_share_the_window_limits():
    with pytest.raises(FormulaError, match="too long") as info:
        parse_rpn(["$close", "1e19", "Mean"])
    assert info.value.position == 7
    with pytest.raises(FormulaError, match="too long"):
        Op.make("Mean", [Feature("close")], [2**63])
    with pytest.raises(FormulaError, match="parameters must be numbers"):
        Op.make("Mean", [Feature("close")], ["10"])
    with pytest.raises(FormulaError, match="parameters must be numbers"):
        Op.make("Mean", [Feature("close")], [True])
    with pytest.raises(FormulaError, match="operands must be expressions"):
        Op.make("Mean", [5.0], [10])


def _nested(depth: int) -> str:
    text = "$close"
    for _ in range(depth):
        text = f"Abs({text})"
    return text


@pytest.mark.parametrize(
    "text",
    [
        _nested(600),
        _nested(10_000),
        "(" * 10_000 + "$close" + ")" * 10_000,
        "-" * 10_000 + "$close",
        "+".join(["$close"] * (MAX_DEPTH + 2)),
    ],
)
def test_deep_nesting_is_a_formula_error_not_a_recursion_error(text):
    with pytest.raises(FormulaError, match="nested too deep") as info:
        parse(text)
    assert info.value.position is not None and 0 <= info.value.position <= len(text)


def test_depth_limit_is_exact_and_round_trips():
    deepest = parse(_nested(MAX_DEPTH - 1))
    assert deepest.depth == MAX_DEPTH
    assert parse(str(deepest)) == deepest
    assert parse_rpn(to_rpn(deepest)) == deepest
    assert pickle.loads(pickle.dumps(deepest)) == deepest
    with pytest.raises(FormulaError, match="nested too deep"):
        parse(_nested(MAX_DEPTH))
    with pytest.raises(FormulaError, match="nested too deep"):
        abs(deepest)
    # the existing formula libraries stay far below the limit
    depths = [parse(f).depth for f in alpha158_formulas() + alpha360_formulas()]
    assert max(depths) < MAX_DEPTH // 4


def test_deep_rpn_is_a_formula_error():
    for n in (600, 10_000):
        with pytest.raises(FormulaError, match="nested too deep") as info:
            parse_rpn(["$close"] + ["Abs"] * n)
        # the operator that crosses the limit is pointed at
        assert info.value.position == len("$close") + 1 + 4 * (MAX_DEPTH - 1)


def test_parse_rpn_accepts_a_whitespace_separated_string():
    expected = parse("Mean($close, 10) / $close")
    assert parse_rpn("$close 10 Mean $close Div") == expected
    assert parse_rpn("  $close\t10d Mean   $close Div\n") == expected
    assert parse_rpn("$close 10 Mean $close Div".split()) == expected
    with pytest.raises(FormulaError, match="empty formula"):
        parse_rpn("   ")
    for bad in (5, None, b"$close"):
        with pytest.raises(FormulaError, match="whitespace-separated string"):
            parse_rpn(bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- properties

_VOCAB = (
    [f"${f}" for f in ("close", "open", "volume", "high")]
    + sorted(OPERATORS)
    + ["Pow", "mean", "foo", "$", "$1x", "close"]
    + ["(", ")", ",", "+", "-", "*", "/", ">", "<", ">=", "==", "!=", "&", "|", "!"]
    + ["0", "1", "2", "5", "10", "-3", "0.5", "1e19", "1e999", "2.5", "10d", ".5", "1e-9"]
    + ["9223372036854775808", "100001", " ", "BEG", "SEP", "#", "'", "\\", "\x00", "é"]
)
_VALID = [
    "Mean($close, 10) / $close - 1",
    "Corr($close, Log($volume + 1), 10)",
    "If($close > Ref($close, 1), $volume, -$volume)",
    "Quantile($close, 20, 0.8) / Med($close, 5)",
    "EMA($close, 0.5) - WMA($close, 6)",
    "CSRank(Delta($close, 3)) * Sign($open - $close)",
    "Greater(Max($high, 5), Min($open, 3)) & ($volume != 0)",
    *alpha158_formulas()[:40],
]


def _never_anything_but_formula_error(text: str) -> None:
    try:
        expr = parse(text)
    except FormulaError:
        return
    assert parse(str(expr)) == expr  # what parses round-trips through its canonical string
    assert str(parse(str(expr))) == str(expr)
    assert expr.depth <= MAX_DEPTH
    assert all(0 < abs(p) <= MAX_WINDOW or 0 <= p <= 1 for n in expr.walk() for p in n.params)


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.text(max_size=80))
def test_random_text_never_raises_anything_but_formula_error(text):
    _never_anything_but_formula_error(text)


@_SETTINGS
@given(st.lists(st.sampled_from(_VOCAB), max_size=40), st.sampled_from(["", " "]))
def test_random_token_soup_never_raises_anything_but_formula_error(tokens, sep):
    _never_anything_but_formula_error(sep.join(tokens))
    try:
        expr = parse_rpn(tokens)
    except FormulaError:
        return
    assert parse_rpn(to_rpn(expr)) == expr
    assert parse(str(expr)) == expr


@_SETTINGS
@given(
    st.sampled_from(_VALID),
    st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete", "replace", "swap"]),
            st.floats(0, 1, exclude_max=True),
            st.sampled_from(_VOCAB + list("(),$.e0123456789 ")),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_valid_formulas_never_raise_anything_but_formula_error(formula, edits):
    text = formula
    for kind, where, piece in edits:
        i = int(where * (len(text) + 1))
        if kind == "insert":
            text = text[:i] + piece + text[i:]
        elif kind == "delete":
            text = text[:i] + text[i + len(piece) :]
        elif kind == "replace":
            text = text[:i] + piece + text[i + 1 :]
        else:
            j = min(len(text), i + 3)
            text = text[j:] + text[:i]
    _never_anything_but_formula_error(text)


@pytest.mark.parametrize("formula", _VALID)
def test_valid_formulas_round_trip(formula):
    expr = parse(formula)
    assert str(parse(str(expr))) == str(expr)
    assert parse_rpn(" ".join(to_rpn(expr))) == expr
