"""Node rules of formula trees: what is wrong with one operator node, read from its operands.

Shared by the rule-based judge (``quantrl.evaluation.logic``), which scores a formula by these
findings, and the miner's units grammar (``quantrl.mining.units``), which refuses every node
with one but a factor that cancels between the operands of a product or quotient. That one, and
a guard against 0 with nothing above it to guard (``idle_guards``), need more of the formula
than a node's operands; the miner's pool refuses those formulas, those with a comparison, Abs
or Sign that the ranges carried through operators decide, and those with two constant shifts
or multiples of one operator expression (``quantrl.evaluation.formula_rules.formula_refusal``). An operand is seen through four things
only: its rule name (``rule_name``: a field, a constant's magnitude class, an operator's name,
or a constant shift or factor), its unit, its sign class and its canonical text.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence

from quantrl.alpha import Constant, Expr, Feature
from quantrl.alpha.dimensions import (
    NEGATIVE,
    NONNEGATIVE,
    NONPOSITIVE,
    POSITIVE,
    VOLUME,
    Unit,
    breaks_log_level,
    constant_sign,
    field_sign,
    result_sign,
    scale_free,
    sign_set,
    units_conflict,
)
from quantrl.alpha.ops import OpSpec

__all__ = [
    "AFFINE_OPS",
    "BOUNDED_RANGES",
    "COMPOSING",
    "EXTREMA",
    "RULE_NAMES",
    "SCALE",
    "SHIFT",
    "Operand",
    "affine_core",
    "argument_texts",
    "cancelled_factor",
    "cancelling_node",
    "comparison_decided",
    "constant_name",
    "contains_operand",
    "expr_sign",
    "factor_texts",
    "idle_guards",
    "is_field_text",
    "is_one",
    "node_findings",
    "operand",
    "operator_name",
    "rule_name",
    "working_guards",
]
#: Operators whose two operands being the same expression make the result trivial.
_SELF_DEGENERATE: dict[str, str] = {
    "Sub": "is identically 0",
    "Div": "is identically 1",
    "Greater": "is just its operand",
    "Less": "is just its operand",
    "Gt": "is identically 0",
    "Lt": "is identically 0",
    "Ne": "is identically 0",
    "Ge": "is identically 1",
    "Le": "is identically 1",
    "Eq": "is identically 1",
    "And": "is just its operand's truth value",
    "Or": "is just its operand's truth value",
    "Corr": "is identically 1",
}
#: Comparisons whose outcome a constant decides when the other operand's sign class lies wholly
#: on one side of it (``Greater($volume, -1)`` is ``$volume``, ``Lt($close, 0)`` is 0).
_SIGN_DECIDED = frozenset({"Greater", "Less", "Gt", "Ge", "Lt", "Le", "Eq", "Ne"})
#: Ranges of bounded operators: a comparison with a constant beyond the range is decided
#: (``Greater(30, Corr(x, y, 10))`` is 30).
BOUNDED_RANGES: dict[str, tuple[float, float]] = {
    "Corr": (-1.0, 1.0),
    "Sign": (-1.0, 1.0),
    "Rank": (0.0, 1.0),
    "CSRank": (0.0, 1.0),
    "Rsquare": (0.0, 1.0),
    **{name: (0.0, 1.0) for name in ("Gt", "Ge", "Lt", "Le", "Eq", "Ne", "And", "Or", "Not")},
}
#: Operators a constant shift of an operand does not change (``Std(Add($close, 5), 10)``).
_SHIFT_FREE = frozenset(
    {"Corr", "Cov", "Std", "Var", "Mad", "Delta", "Skew", "Kurt", "Slope", "Rsquare", "Resi"}
    | {"Rank", "CSRank", "CSZScore", "CSDemean", "IdxMax", "IdxMin", "Count"}
)
#: Operators a constant factor on an operand changes at most in sign, or from a maximum to a
#: minimum (``Corr(Mul($close, 0.5), $open, 10)``, ``IdxMax(Mul($close, -2), 10)``).
_SCALE_FREE_OPS = frozenset(
    {"Corr", "Sign", "Rank", "CSRank", "CSZScore", "Rsquare", "Skew", "Kurt"}
    | {"IdxMax", "IdxMin", "Count"}
)
SHIFT = "+const"
"""Node-rule name of an expression plus a constant (an Add or Sub with one literal operand, or
what a shift passes through)."""
SCALE = "*const"
"""Node-rule name of a constant times an expression (a Mul with one literal operand, a Div by a
literal, a literal other than 1 divided by an expression, or what a factor passes through)."""
#: Largest magnitude of an epsilon: a literal that only keeps a denominator or a Log's operand
#: off 0 (Alpha158's ``$high - $low + 1e-12``).
EPSILON = 1e-6
_EPS = "|c|<=1e-6"
#: Constant interval of each (sign class, magnitude class) of a constant, for the range rule.
_CONSTANT_INTERVAL: dict[tuple[str, str], tuple[float, float]] = {
    (POSITIVE, "|c|>1"): (math.nextafter(1.0, math.inf), math.inf),
    (POSITIVE, "|c|=1"): (1.0, 1.0),
    (POSITIVE, "|c|<1"): (math.nextafter(EPSILON, math.inf), 1.0),
    (POSITIVE, _EPS): (5e-324, EPSILON),
    (NONNEGATIVE, "|c|<1"): (0.0, 0.0),
    (NEGATIVE, "|c|>1"): (-math.inf, math.nextafter(-1.0, -math.inf)),
    (NEGATIVE, "|c|=1"): (-1.0, -1.0),
    (NEGATIVE, "|c|<1"): (-1.0, math.nextafter(-EPSILON, -math.inf)),
    (NEGATIVE, _EPS): (-EPSILON, -5e-324),
}


def constant_name(value: float) -> str:
    """Node-rule name of a constant: its magnitude class (``"|c|>1"``, ``"|c|=1"``, ``"|c|<1"``,
    or ``"|c|<=1e-6"`` for a non-zero epsilon)."""
    size = abs(float(value))
    if size > 1.0:
        return "|c|>1"
    if size == 1.0:
        return "|c|=1"
    return _EPS if 0.0 < size <= EPSILON else "|c|<1"


#: Operators through which a constant shift of their (first) operand passes: f(x + c) = f(x) + c'
#: (``Ref(Add($close, 1), 5)`` is still ``$close`` shifted by a constant); a shift also passes
#: through a sum or difference of market data, (x + c) - y = (x - y) + c.
_SHIFT_KEEPING = frozenset({"Ref", "Mean", "Sum", "Med", "Max", "Min", "EMA", "WMA", "Quantile"})
#: Operators through which a constant factor on a market-data operand passes: f(c x) = c' f(x),
#: or c' g(x) with g a mirror operator (a negative factor turns Max into Min).
_SCALE_KEEPING = frozenset(
    {"Ref", "Mean", "Sum", "Med", "EMA", "WMA", "Std", "Var", "Mad", "Cov", "Delta", "Abs"}
    | {"Max", "Min", "Quantile", "Slope", "Resi", "CSDemean", "Mul", "Div"}
)


def operator_name(
    name: str, constants: Sequence[tuple[str, str] | None], names: Sequence[str] = ()
) -> str:
    """Node-rule name of an operator node: ``SHIFT`` or ``SCALE`` when it equals a market-data
    expression shifted or scaled by a constant, else the operator's own name.

    ``constants`` holds, per operand, ``(constant_name, sign class)`` of a literal and None for
    market data; ``names`` the operands' own node-rule names (for what passes through: a
    shift through Ref, Mean, Max..., Add and Sub, a factor through Ref, Mean, Max, Std, Cov,
    Delta, Mul, Div..., and Log turns a factor into a shift). ``c / x`` is a factor c on the
    reciprocal ``1 / x`` unless c is 1. A quotient minus exactly 1
    (``$close / Ref($close, 1) - 1``) is how a return is written, not a shift; anything else
    minus 1 is a shift.
    """
    n_const = sum(c is not None for c in constants)
    if len(constants) == 2 and n_const == 1:
        const = constants[0] if constants[1] is None else constants[1]
        if name in ("Add", "Sub"):
            minus_one = const == ("|c|=1", POSITIVE if name == "Sub" else NEGATIVE)
            other = names[1 if constants[0] is not None else 0] if names else ""
            relative = minus_one and other == "Div" and (name == "Add" or constants[0] is None)
            return name if relative else SHIFT
        reciprocal = constants[1] is None and is_one(*constants[0])  # 1 / x
        if name == "Mul" or (name == "Div" and not reciprocal):
            return SCALE  # c * x, x / c, c / x
    if n_const or not names:
        return name
    if name in ("Add", "Sub") and SHIFT in names:
        return SHIFT
    if name in _SHIFT_KEEPING and names[0] == SHIFT:
        return SHIFT
    if name in _SCALE_KEEPING and SCALE in names:
        return SCALE
    if name == "Log" and names[0] == SCALE:
        return SHIFT  # log(c x) = log(c) + log(x)
    return name


def is_one(name: str, sign: str) -> bool:
    """Whether a literal's ``constant_name`` and sign class make it the literal 1."""
    return name == "|c|=1" and sign == POSITIVE


def _is_one(operand: Operand) -> bool:
    """Whether an operand is the literal 1."""
    return operand[1].kind == "const" and is_one(operand[0], operand[2])


#: Rolling operators that a window of 1 turns into the identity or a constant.
_WINDOW_ONE: dict[str, str] = {
    "Mean": "is its operand",
    "Sum": "is its operand",
    "Max": "is its operand",
    "Min": "is its operand",
    "Med": "is its operand",
    "WMA": "is its operand",
    "EMA": "is its operand",
    "Quantile": "is its operand",
    "Mad": "is identically 0",
    "Rank": "is constant",
    "IdxMax": "is identically 1",
    "IdxMin": "is identically 1",
    "Count": "only flags missing values",
}
#: Rolling operators two of which compose into one: ``Ref(Ref(x, a), b)`` is ``Ref(x, a + b)``,
#: ``Max(Max(x, a), b)`` is ``Max(x, a + b - 1)``, and ``Min`` likewise.
_COMPOSING: dict[str, str] = {
    "Ref": "is one Ref whose lag is the sum of the two",
    "Max": "is one Max over a window of the two windows' sum less 1",
    "Min": "is one Min over a window of the two windows' sum less 1",
}
COMPOSING = frozenset(_COMPOSING)
"""Rolling operators that node rules refuse directly on themselves (read from the operand's text)."""
#: Operators for which f(f(x)) == f(x).
_IDEMPOTENT = frozenset({"Abs", "Sign", "CSRank", "CSZScore", "CSDemean"})
#: Larger/smaller of two operands (Greater, Less) or over a window (Max, Min), by what it takes:
#: Greater(a, b) of an ``a`` that is an argument of ``b`` collapses when ``b`` is one of these.
_EXTREMA: dict[str, str] = {"Greater": "max", "Max": "max", "Less": "min", "Min": "min"}
EXTREMA = frozenset(_EXTREMA)
"""Node-rule names of extrema whose operands Greater and Less must not be compared with."""
RULE_NAMES = frozenset(_IDEMPOTENT | set(BOUNDED_RANGES) | {SHIFT, SCALE, "Div"})
"""Operator-node names (``operator_name``) that some node rule reads in an operand alone (an
extremum's name matters only with the other operand's text, see ``contains_operand``)."""

#: One operand as the node rules see it: (name, unit, sign class, canonical text); the name is
#: ``rule_name``'s: a field, a constant's magnitude class, an operator's name, SHIFT or SCALE.
Operand = tuple[str, Unit, str, str]


def node_findings(
    spec: OpSpec, children: Sequence[Operand], params: tuple = (), text: str = ""
) -> list[tuple[str, str]]:
    """Findings of one operator node from its operands alone: ``(category, message)`` pairs.

    Categories: ``"unit"`` (operands that must share a unit do not: a price added to a
    volume; a log-level multiplied, divided or folded at zero, ``Mul(Log($close), $volume)``,
    ``Abs(Log($low))``), ``"domain"`` (Log of a quantity that is not always positive, see
    ``quantrl.alpha.dimensions.result_sign``), ``"degenerate"`` (identical operands that make the node
    constant or its operand: ``Sub(x, x)``, ``Corr(x, x, w)``, equal If branches; a
    comparison that signs decide, ``Greater($volume, -1)``, ``Gt($close, 0)``,
    ``Less(Mul($close, -1), $open)``, or by the other side's range,
    ``Greater(30, Corr(x, y, 10))``, or by the bar's definition, ``Greater($high, $close)``,
    or a raw level compared with or folded at a fixed threshold, ``Less($high, 2)``,
    ``Abs(Sub($close, 5))``, or an operand compared with an extremum that never passes it,
    ``Greater(x, Min(x, 10))``; a product or quotient whose factors cancel to a constant,
    ``Mul($high, Div(-10, $high))``), ``"redundant"`` (``Cov(x, x)``, a product or quotient
    with a factor in both its numerator and its denominator (``factor_texts``),
    ``Div(Mul($close, $volume), $volume)``, an
    extremum of an operand and an extremum that already takes it, ``Greater(x, Max(x, 10))``,
    ``Less(x, Less(x, y))``, a sum of an expression and itself, a sum, difference, quotient or
    comparison of two constant shifts or multiples of one field, ``Add($volume, $volume)``,
    ``Sub($high, Add($high, 0.01))``, a negative constant subtracted, ``Sub($low, -10)`` (an
    Add), a division by -1 (a Mul by -1), a Ref of a Ref or a Max of a Max (one with the windows
    combined, ``Ref(Ref($close, 10), 20)`` is ``Ref($close, 30)``),
    an idempotent operator applied twice, Abs of a non-negative or non-positive quantity, a
    constant shift inside an operator it does not change,
    ``Std(Add($close, 5), 10)``, a constant factor inside one it changes only in sign,
    ``Corr(Mul($close, 0.5), $open, 10)``, two constant shifts or two constant factors where
    one would do, ``Add(Add($close, 2), 5)``, ``Mul(Div($close, 0.5), -2)``,
    ``Div(-10, Mul($high, 2))``, a multiplication by 1; shifts and factors pass through the
    operators that keep them, ``Std(Ref(Add($close, 1), 5), 10)``), ``"window"`` (a
    window of 1 that makes a rolling operator trivial) and ``"scale"`` (a raw level shifted by
    a constant, ``Div($close, Add($open, 5))``: the shift weighs with each symbol's share price;
    an epsilon, ``Add(Sub($high, $low), 1e-12)``, or at most one share added to a volume,
    ``Log(Add($volume, 1))``, is a guard against 0). The judge scores these per node; the
    miner's grammar refuses every operator with a finding but a factor that cancels: it reads
    operands through abstracts that do not list a product's factors.
    ``text`` (the node's canonical string) only goes into the messages.
    """
    name = spec.name
    out: list[tuple[str, str]] = []
    if spec.same_unit:
        units = [children[i][1] for i in spec.same_unit]
        if units_conflict(units):
            labels = ", ".join(str(u) for u in units) if text else ""
            out.append(("unit", f"{name}({labels}) at {text}"))
    if breaks_log_level(name, [c[1] for c in children]):
        out.append(("unit", f"{name} of a log-level at {text}: depends on each symbol's units"))
    if name == "Log" and children[0][2] != POSITIVE:
        out.append(("domain", f"{text} takes the log of a quantity that may be <= 0"))
    if len(children) == 2 and name in _SELF_DEGENERATE and children[0][3] == children[1][3]:
        out.append(("degenerate", f"{text} {_SELF_DEGENERATE[name]}"))
    if name in _SIGN_DECIDED and len(children) == 2:
        decided = _decided_comparison(name, children)
        if decided is not None:
            out.append(("degenerate", f"{text} {decided}"))
    if name in ("Abs", "Sign") and children[0][0] == SHIFT and not scale_free(children[0][1]):
        out.append(
            (
                "degenerate",
                f"{text} folds a raw level at a fixed threshold: the split depends on each "
                "symbol's price or volume scale",
            )
        )
    if name in ("Add", "Sub") and len(children) == 2 and _shifts_level(name, children):
        out.append(
            (
                "scale",
                f"{text} shifts a raw level by a fixed constant: the shift weighs differently "
                "with each symbol's price or volume scale",
            )
        )
    if name in _SHIFT_FREE and any(c[0] == SHIFT for c in children):
        out.append(("redundant", f"{text}: a constant shift of an operand changes nothing"))
    if name in _SCALE_FREE_OPS and any(c[0] == SCALE for c in children):
        out.append(("redundant", f"{text}: a constant factor on an operand changes at most a sign"))
    if (name == "Mul" and any(_is_one(c) for c in children)) or (
        name == "Div" and len(children) == 2 and _is_one(children[1])
    ):
        out.append(("redundant", f"{text} multiplies by 1"))
    if name == "Sub" and len(children) == 2 and _negative_literal(children[1]):
        out.append(("redundant", f"{text} subtracts a negative constant: it is an Add"))
    if name == "Div" and len(children) == 2 and _is_minus_one(children[1]):
        out.append(("redundant", f"{text} divides by -1: it is a Mul by -1"))
    if name in ("Add", "Sub") and len(children) == 2 and all(_carries(c, SHIFT) for c in children):
        out.append(("redundant", f"{text} shifts by a constant twice"))
    if name in ("Mul", "Div") and len(children) == 2 and all(_carries(c, SCALE) for c in children):
        out.append(("redundant", f"{text} scales by a constant twice"))
    if name == "If" and children[1][3] == children[2][3]:
        out.append(("degenerate", f"{text} has equal branches"))
    if name == "Cov" and children[0][3] == children[1][3]:
        out.append(("redundant", f"{text} is Var of its operand"))
    if params and params[0] == 1 and name in _WINDOW_ONE:
        out.append(("window", f"{text} {_WINDOW_ONE[name]}"))
    if name in _EXTREMA and len(children) == 2:  # Greater, Less
        absorbed = _absorbed(name, children)
        if absorbed is not None:
            out.append((absorbed[0], f"{text} {absorbed[1]}"))
    core = _shared_core(name, children) if name in AFFINE_OPS and len(children) == 2 else None
    if core is not None:
        out.append(
            (
                "redundant",
                f"{text}: both operands are constant shifts or multiples of {core}, so it is a "
                f"function of {core} alone",
            )
        )
    if name in ("Mul", "Div") and len(children) == 2 and core is None:
        cancelled = cancelled_factor(name, children[0][3], children[1][3])
        if cancelled is not None:
            shared, constant = cancelled
            if constant:
                out.append(("degenerate", f"{text} is a constant: {shared} cancels"))
            else:
                out.append(("redundant", f"{text} cancels {shared}: write it without"))
    if name in _COMPOSING and children and children[0][3].startswith(name + "("):
        out.append(("redundant", f"{text} {_COMPOSING[name]}"))
    if name in _IDEMPOTENT and children and children[0][0] == name:
        out.append(("redundant", f"{text} repeats {name}"))
    elif name == "Abs" and children[0][2] in (POSITIVE, NONNEGATIVE):
        out.append(("redundant", f"{text} is Abs of a non-negative quantity"))
    elif name == "Abs" and children[0][2] in (NEGATIVE, NONPOSITIVE):
        out.append(("redundant", f"{text} is Abs of a non-positive quantity: its negation"))
    return out


def argument_texts(text: str) -> tuple[str, ...]:
    """Top-level argument texts of a canonical operator string (``Max($close,10)`` gives
    ``("$close", "10")``); empty for a feature or a literal."""
    start = text.find("(")
    if start < 0 or not text.endswith(")"):
        return ()
    args: list[str] = []
    depth, begin = 0, start + 1
    for i in range(start + 1, len(text) - 1):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[begin:i])
            begin = i + 1
    args.append(text[begin : len(text) - 1])
    return tuple(args)


#: Operators of two operands that are a function of one field when both operands are constant
#: shifts or multiples of it: ``Add($volume, $volume)`` is ``2 $volume``,
#: ``Sub($high, Add($high, 0.01))`` a constant, ``Greater($volume, Mul($volume, -0.01))`` is
#: ``$volume``. A product of two (``Mul($close, $close)``) is a square and stays.
AFFINE_OPS = frozenset({"Add", "Sub", "Div", "Greater", "Less"})
_AFFINE_HEADS = frozenset({"Add(", "Sub(", "Mul(", "Div("})


def _is_literal(text: str) -> bool:
    """Whether an argument text is a numeric literal (no feature, no operator)."""
    return not text.startswith("$") and "(" not in text


def affine_core(text: str) -> str:
    """The expression a canonical text is a constant shift or multiple of: the text less its
    outer Add, Sub or Mul with one literal operand and Div by a literal (``Sub(2, Mul($close,
    0.5))`` gives ``$close``); a quotient plus or minus 1 (a return) and ``c / x`` stay whole."""
    while text[:4] in _AFFINE_HEADS:
        args = argument_texts(text)
        if len(args) != 2:
            break
        first, second = _is_literal(args[0]), _is_literal(args[1])
        if first == second or (text[:3] == "Div" and first):
            break
        literal, other = (args[0], args[1]) if first else (args[1], args[0])
        if text[:3] in ("Add", "Sub") and other.startswith("Div(") and abs(float(literal)) == 1:
            break
        text = other
    return text


def is_field_text(text: str) -> bool:
    """Whether a canonical text is a bare feature (``$close``)."""
    return text.startswith("$") and "(" not in text


@functools.lru_cache(maxsize=1 << 16)
def factor_texts(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Numerator and denominator factors of a canonical text, sorted: a Mul's factors are its
    operands' and a Div's its numerator's with its denominator's swapped; literals are left
    out and any other text is one factor (``Div(Mul($close,-2),Mean($volume,5))`` gives
    ``(("$close",), ("Mean($volume,5)",))``)."""
    if text[:4] not in ("Mul(", "Div("):
        return ((), ()) if _is_literal(text) else ((text,), ())
    args = argument_texts(text)
    if len(args) != 2:
        return ((text,), ())
    (n0, d0), (n1, d1) = factor_texts(args[0]), factor_texts(args[1])
    if text[:3] == "Div":
        n1, d1 = d1, n1
    return tuple(sorted(n0 + n1)), tuple(sorted(d0 + d1))


def cancelled_factor(name: str, t0: str, t1: str) -> tuple[str, bool] | None:
    """(a factor that cancels, whether nothing but a constant is left) when the product or
    quotient ``name`` of two operand texts has a factor in both its numerator and its
    denominator (``Div(Mul($close,$volume),$volume)`` is ``$close``, ``Mul($high,Div(-10,
    $high))`` is -10), else None. Two equal operands of a Div are another rule's."""
    if name == "Div" and t0 == t1:
        return None
    (n0, d0), (n1, d1) = factor_texts(t0), factor_texts(t1)
    if name == "Div":
        n1, d1 = d1, n1
    num, den = Counter(n0 + n1), Counter(d0 + d1)
    shared = num & den
    if not shared:
        return None
    return min(shared), not (num - shared) and not (den - shared)


def cancelling_node(expr: Expr) -> tuple[str, str] | None:
    """(node text, factor) of the first product or quotient in ``expr`` with a factor in both
    its numerator and its denominator (``cancelled_factor``), else None."""
    for node in expr.walk():
        if node.kind == "op" and node.name in ("Mul", "Div") and len(node.children) == 2:
            found = cancelled_factor(node.name, str(node.children[0]), str(node.children[1]))
            if found is not None:
                return str(node), found[0]
    return None


def _shared_core(name: str, children: Sequence[Operand]) -> str | None:
    """The ``affine_core`` two market-data operands share when they are constant shifts or
    multiples of one field, or (for Add; ``_SELF_DEGENERATE`` covers the others) the same
    expression; else None."""
    (_, u0, _, t0), (_, u1, _, t1) = children
    if u0.kind == "const" or u1.kind == "const":
        return None
    core = affine_core(t0)
    if t0 == t1:
        return core if name == "Add" else None
    return core if is_field_text(core) and core == affine_core(t1) else None


def contains_operand(name: str, text: str, operand: str) -> bool:
    """Whether ``operand`` (a canonical text) is an operand that the extremum ``text`` (rule
    name ``name``) takes its value from: either side of Greater and Less, the windowed operand
    of Max and Min; False for any other operator."""
    if name not in _EXTREMA:
        return False
    args = argument_texts(text)
    return operand in (args[:2] if name in ("Greater", "Less") else args[:1])


def _absorbed(name: str, children: Sequence[Operand]) -> tuple[str, str] | None:
    """(category, why) when Greater or Less compares an operand with an extremum that already
    takes that operand: ``Greater(a, Greater(a, b))`` and ``Greater(a, Max(a, w))`` are the
    extremum itself, ``Greater(a, Less(a, b))`` and ``Greater(a, Min(a, w))`` are ``a``."""
    want = "max" if name == "Greater" else "min"
    for outer, inner in ((children[0], children[1]), (children[1], children[0])):
        if contains_operand(inner[0], inner[3], outer[3]):
            if _EXTREMA[inner[0]] == want:
                return "redundant", f"equals its {inner[0]} operand, which already takes the other"
            return "degenerate", f"is just its other operand: the {inner[0]} never passes it"
    return None


def _decided_comparison(name: str, children: Sequence[Operand]) -> str | None:
    """Why a two-operand comparison is degenerate (the first rule that applies), or None."""
    if _decided_by_sign(children):
        return "is decided by signs: one side is always below the other"
    if _decided_by_range(name, children):
        return "is decided by ranges: its constant lies beyond the other side's range"
    if _decided_by_bar(name, children):
        return (
            "is decided by the bar's definition: a high is never below the open, close or low "
            "of its bar, a low never above them"
        )
    if _level_threshold(children):
        return (
            "compares a raw level with a fixed threshold: the split depends on each symbol's "
            "price or volume scale"
        )
    return None


def _shifted_level(children: Sequence[Operand]) -> tuple[Operand, Operand] | None:
    """(literal, other operand) when a two-operand node combines a raw level (a price, a
    volume, a price change: a unit that is neither scale-free nor a log-level) with a
    literal, else None."""
    split = _literal_and_other(children)
    if split is None or split[1][1].kind != "dim" or scale_free(split[1][1]):
        return None
    return split[0], split[1]


def _guards_zero(name: str, const: Operand, level: Operand) -> bool:
    """Whether shifting the raw level ``level`` by the literal ``const`` (an Add or Sub) is a
    guard against 0: an epsilon (``Add(Sub($high, $low), 1e-12)``) or at most one share added
    to a non-negative volume (``Log(Add($volume, 1))``)."""
    if const[0] == _EPS:
        return True
    guard = name == "Add" and const[2] == POSITIVE and const[0] != "|c|>1"
    return guard and level[1] == VOLUME and level[2] in (POSITIVE, NONNEGATIVE)


def _shifts_level(name: str, children: Sequence[Operand]) -> bool:
    """True when an Add or Sub shifts a raw level by a literal that is not a guard against 0
    (``_guards_zero``)."""
    split = _shifted_level(children)
    return split is not None and not _guards_zero(name, *split)


def operand(expr: Expr, names: dict[str, str], signs: dict[str, str]) -> Operand:
    """How node rules see ``expr`` as an operand: rule name, unit, sign class and canonical
    text (``names`` and ``signs`` cache ``rule_name`` and ``expr_sign`` by text)."""
    return (rule_name(expr, names), expr.unit_info, expr_sign(expr, signs), str(expr))


#: Operators whose operand (Log's; a Div's denominator, a Power's base) a guard keeps off 0.
_GUARDED_SLOT: dict[str, int] = {"Log": 0, "Div": 1, "Power": 0}


def _zero_guards(expr: Expr) -> list[tuple[str, bool]]:
    """Each guard against 0 in ``expr`` (``_guards_zero``) as (text, whether a Log, denominator
    or Power lies above it), in the order a depth-first walk meets them, each pair once."""
    names: dict[str, str] = {}
    signs: dict[str, str] = {}
    found: list[tuple[str, bool]] = []
    todo = [(expr, False)]
    while todo:
        node, guarded = todo.pop()
        if node.kind != "op":
            continue
        if node.name in ("Add", "Sub") and len(node.children) == 2:
            split = _shifted_level([operand(c, names, signs) for c in node.children])
            item = (str(node), guarded)
            if split is not None and _guards_zero(node.name, *split) and item not in found:
                found.append(item)
        slot = _GUARDED_SLOT.get(node.name)
        todo.extend((c, guarded or i == slot) for i, c in reversed(list(enumerate(node.children))))
    return found


def idle_guards(expr: Expr) -> list[str]:
    """Texts of the guards against 0 in ``expr`` (``_guards_zero``: ``Add($volume, 1)``) that
    guard nothing: no Log, denominator or Power lies above them, so the constant only blurs
    the level it shifts (``Mean(Add($volume, 1), 40)``, ``Div(Add($volume, 1), $close)``)."""
    return [text for text, guarded in _zero_guards(expr) if not guarded]


def working_guards(expr: Expr) -> list[str]:
    """Texts of the guards against 0 in ``expr`` that a Log, denominator or Power lies above
    (``Log(Add($volume, 1))``): the constant keeps that operand off 0."""
    return [text for text, guarded in _zero_guards(expr) if guarded]


def _is_minus_one(operand: Operand) -> bool:
    """Whether an operand is the literal -1."""
    return _negative_literal(operand) and operand[0] == "|c|=1"


def _is_zero(operand: Operand) -> bool:
    """Whether an operand is the literal 0 (the one literal of sign class non-negative)."""
    return operand[1].kind == "const" and operand[2] == NONNEGATIVE


def _negative_literal(operand: Operand) -> bool:
    """Whether an operand is a negative literal."""
    return operand[1].kind == "const" and operand[2] == NEGATIVE


def _carries(operand: Operand, kind: str) -> bool:
    """Whether an operand is a literal or carries a constant ``kind`` (SHIFT or SCALE)."""
    return operand[1].kind == "const" or operand[0] == kind


#: Fields of one bar ordered by definition: (upper, lower) with upper >= lower on every bar.
_BAR_ORDER = frozenset(
    {("high", "low"), ("high", "open"), ("high", "close"), ("high", "vwap")}
    | {("open", "low"), ("close", "low"), ("vwap", "low")}
)


def _decided_by_bar(name: str, children: Sequence[Operand]) -> bool:
    """True when two bare fields of one bar are compared in a way their definition decides:
    ``Greater($high, $close)`` is ``$high``, ``Ge($high, $low)`` is 1, ``Gt($low, $open)`` is 0
    (``Gt($high, $close)``, the close below the high, is not decided)."""
    pair = (children[0][0], children[1][0])
    if pair[::-1] in _BAR_ORDER:
        name, pair = _MIRRORED.get(name, name), pair[::-1]  # read as: upper <relation> lower
    if pair not in _BAR_ORDER:
        return False
    return name in ("Greater", "Less", "Ge", "Lt")


def _literal_and_other(children: Sequence[Operand]) -> tuple[Operand, Operand, bool] | None:
    """(literal, other operand, literal first) of a node with exactly one literal operand of
    two, else None."""
    first, second = children[0][1].kind == "const", children[1][1].kind == "const"
    if first == second:
        return None
    return (children[0], children[1], True) if first else (children[1], children[0], False)


def _decided_by_sign(children: Sequence[Operand]) -> bool:
    """True when the sign classes put one operand always below the other: a negative constant
    against a non-negative quantity, 0 against a positive one, a negative multiple of a price
    against a price (``Less(Mul($close, -1), $open)`` is its first operand)."""
    a, b = _operand_signs(children[0]), _operand_signs(children[1])
    return max(a) < min(b) or max(b) < min(a)


def _operand_signs(operand: Operand) -> frozenset[int]:
    """The signs an operand may take: its class's, or exactly 0 for the literal 0."""
    return frozenset({0}) if _is_zero(operand) else sign_set(operand[2])


_MIRRORED = {"Gt": "Lt", "Lt": "Gt", "Ge": "Le", "Le": "Ge"}


def _decided_by_range(name: str, children: Sequence[Operand]) -> bool:
    """True when one operand is a literal that a bounded operator on the other side never
    crosses, so the comparison's outcome is fixed (bounds count as reachable)."""
    split = _literal_and_other(children)
    if split is None:
        return False
    const, other, literal_first = split
    bounds = BOUNDED_RANGES.get(other[0])
    interval = _CONSTANT_INTERVAL.get((const[2], const[0]))
    if bounds is None or interval is None:
        return False
    return comparison_decided(name, *((interval, bounds) if literal_first else (bounds, interval)))


def comparison_decided(name: str, first: tuple[float, float], second: tuple[float, float]) -> bool:
    """Whether comparison ``name`` of operands whose values lie in the closed intervals
    ``first`` and ``second`` (bounds reachable) always has the same outcome: Greater or Less
    always picks one side (ties give the same value), Gt .. Ne are always 1 or always 0."""
    (a_lo, a_hi), (b_lo, b_hi) = first, second
    if name in ("Greater", "Less"):
        return a_hi <= b_lo or b_hi <= a_lo
    if name in ("Lt", "Le"):  # a < b is b > a
        name = "Gt" if name == "Lt" else "Ge"
        (a_lo, a_hi), (b_lo, b_hi) = (b_lo, b_hi), (a_lo, a_hi)
    if name == "Gt":
        return a_lo > b_hi or a_hi <= b_lo
    if name == "Ge":
        return a_lo >= b_hi or a_hi < b_lo
    if name in ("Eq", "Ne"):
        return a_hi < b_lo or b_hi < a_lo or a_lo == a_hi == b_lo == b_hi
    return False


def _level_threshold(children: Sequence[Operand]) -> bool:
    """True when a literal other than 0 is compared with a quantity that is not scale-free (a
    price, a volume, a price change...): ``Less($high, 2)`` splits stocks by their share
    price, while ``Greater(Delta($close, 1), 0)`` (the gain of an up day) splits by sign."""
    split = _literal_and_other(children)
    if split is None or _is_zero(split[0]):
        return False
    return not scale_free(split[1][1])


def expr_sign(expr: Expr, memo: dict[str, str] | None = None) -> str:
    """Sign class (``"pos"``, ``"nonneg"``, ``"any"``...) of an expression, bottom up (a product
    of two identical operands is a square)."""
    memo = {} if memo is None else memo
    key = str(expr)
    if key in memo:
        return memo[key]
    if isinstance(expr, Feature):
        sign = field_sign(expr.name)
    elif isinstance(expr, Constant):
        sign = constant_sign(expr.value)
    else:
        kids = expr.children
        same = len(kids) == 2 and str(kids[0]) == str(kids[1])
        sign = result_sign(expr.name, [expr_sign(c, memo) for c in kids], same=same)
    memo[key] = sign
    return sign


def rule_name(expr: Expr, memo: dict[str, str] | None = None) -> str:
    """The name node rules read for an operand: a field, ``constant_name`` of a literal, or
    ``operator_name`` of an operator node (bottom up; ``memo`` caches by canonical text)."""
    if isinstance(expr, Constant):
        return constant_name(expr.value)
    if isinstance(expr, Feature):
        return expr.name
    memo = {} if memo is None else memo
    key = str(expr)
    if key not in memo:
        memo[key] = operator_name(
            expr.name,
            [
                (constant_name(c.value), constant_sign(c.value))
                if isinstance(c, Constant)
                else None
                for c in expr.children
            ],
            [rule_name(c, memo) for c in expr.children],
        )
    return memo[key]
