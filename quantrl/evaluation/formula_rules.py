"""Formula rules: findings that need more of a formula than a node's operands.

The node rules (``quantrl.evaluation.node_rules``) see an operand through its rule name, unit,
sign class and text, which is all the miner's grammar knows when it masks a token. Seven
findings need more: a factor that cancels between the numerator and denominator of a product
or quotient (``node_rules.cancelling_node``), a guard against 0 that nothing above it guards
(``node_rules.idle_guards``), and a comparison, Abs or Sign that the exact constants and the
ranges carried through the operators below it decide (``decided_comparisons``: ``Greater(2,
Med(Corr($close, $volume, 20), 20))`` is always 2, ``Less(Add(Corr($high, $open, 30), -5), 1)``
always its first operand; ``decided_folds``: ``Abs(Add(Corr($close, $open, 10), 30))`` is its
operand), and two constant shifts or multiples of one operator expression, which the grammar
follows for fields only (``shared_cores``: ``Sub(Corr($close, $open, 10), Mul(Corr($close,
$open, 10), 2))`` is a function of the Corr alone), and a negative constant factor whose sign
an operator above it ignores, which the grammar's abstracts cannot see (they hold the sign of a
node's values, not of a factor inside it; ``idle_signs``: ``Std(Mul($high, -1), 40)`` is
``Std($high, 40)``), and a difference whose subtrahend is such a negation, for the same reason
(``double_negatives``: ``Sub($open, Div($close, -5))`` is ``Add($open, Div($close, 5))``), and
a formula that is such a negation as a whole (``negated_formula``: ``Div(Sub(Mul($high, -1),
$low), $close)`` is minus ``Div(Add($high, $low), $close)``, the same ranks up to sign). The
rule-based judge reports them, each with the formula that the node is without the sign, and the
miner's pool refuses formulas holding one unevaluated (``formula_refusal``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from quantrl.alpha import Constant, Expr, Op
from quantrl.alpha.dimensions import NEGATIVE, NONNEGATIVE, NONPOSITIVE, POSITIVE
from quantrl.evaluation.node_rules import (
    AFFINE_OPS,
    BOUNDED_RANGES,
    cancelling_node,
    comparison_decided,
    expr_sign,
    idle_guards,
)

__all__ = [
    "NegationMemo",
    "REFUSAL_REASONS",
    "SignFinding",
    "decided_comparisons",
    "decided_folds",
    "double_negatives",
    "formula_refusal",
    "idle_signs",
    "negated_formula",
    "shared_cores",
    "value_bounds",
]

Interval = tuple[float, float]
_ANY: Interval = (-math.inf, math.inf)
#: The closed hull of each sign class (bounds count as reachable).
_SIGN_INTERVAL: dict[str, Interval] = {
    POSITIVE: (0.0, math.inf),
    NONNEGATIVE: (0.0, math.inf),
    NEGATIVE: (-math.inf, 0.0),
    NONPOSITIVE: (-math.inf, 0.0),
}
#: Operators whose values lie within their operand's range: averages, order statistics, lags.
_RANGE_KEEPING = frozenset({"Mean", "Med", "Min", "Max", "Quantile", "EMA", "Ref"})
#: Rolling spreads whose range ``_spread_bounds`` finds from a finite operand range.
_SPREADS = frozenset({"Std", "Var", "Mad", "Cov"})
#: Operators blind to the sign of their operand, f(-x) = f(x).
_SIGN_BLIND = frozenset({"Abs", "Std", "Var", "Mad", "Kurt", "Rsquare"})
#: Operators through which a sign flip of their one operand passes, f(-x) = -f(x).
_SIGN_ODD = frozenset(
    {"Ref", "Mean", "Sum", "Med", "EMA", "WMA", "Delta", "Skew", "Sign", "Slope", "Resi"}
    | {"CSDemean", "CSZScore"}
)
#: Operators of two operands blind to a sign flip of both, f(-x, -y) = f(x, y).
_PAIR_SIGN_BLIND = frozenset({"Mul", "Div", "Corr", "Cov"})
#: Operators that a sign flip of their operands turns into another, f(-x) = -g(x).
_MIRRORS = {"Max": "Min", "Min": "Max", "Greater": "Less", "Less": "Greater"}
#: Operators in which a negative literal operand flips the node's sign (with its other operand
#: for a comparison, a sum or a difference: ``Sub(-10, x)`` is minus ``Add(10, x)``).
_LITERAL_FLIPS = frozenset({"Mul", "Div", "Greater", "Less", "Add", "Sub"})
#: Comparisons whose outcome ``comparison_decided`` can fix.
_COMPARISONS = frozenset({"Greater", "Less", "Gt", "Ge", "Lt", "Le", "Eq", "Ne"})


def _hull(*points: float) -> Interval:
    """The closed interval spanning ``points``; anything undefined (inf - inf) spans all."""
    if any(math.isnan(p) for p in points):
        return _ANY
    return min(points), max(points)


def _scaled(interval: Interval, factor: float) -> Interval:
    """``factor`` times every value of ``interval``."""
    if factor == 0.0:
        return 0.0, 0.0
    return _hull(interval[0] * factor, interval[1] * factor)


def _product(a: Interval, b: Interval) -> Interval:
    """The products of a value of ``a`` and one of ``b`` (finite intervals only)."""
    if not all(math.isfinite(x) for x in (*a, *b)):
        return _ANY
    return _hull(a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])


def _abs(interval: Interval) -> Interval:
    lo, hi = interval
    if lo >= 0.0:
        return lo, hi
    if hi <= 0.0:
        return -hi, -lo
    return 0.0, max(-lo, hi)


def _spread_bounds(name: str, kids: list[Interval], window: int) -> Interval:
    """The range of a rolling spread over a full window of ``window`` values of finite ranges.

    Values in an interval of half-width h have a mean absolute deviation of at most h and a
    population variance of at most h**2 (half of them at each end), so a sample variance
    (ddof 1) of at most h**2 * w / (w - 1); a sample covariance is at most the product of the
    two sample standard deviations (Cauchy-Schwarz)."""
    halves = [(hi - lo) / 2.0 for lo, hi in kids]
    if name == "Mad":
        return 0.0, halves[0]
    ratio = window / (window - 1.0) if window > 1 else 0.0
    if name == "Std":
        return 0.0, halves[0] * math.sqrt(ratio)
    if name == "Var":
        return 0.0, halves[0] * halves[0] * ratio
    bound = halves[0] * halves[1] * ratio  # Cov
    return -bound, bound


def _operator_bounds(expr: Expr, kids: list[Interval]) -> Interval:
    """The range of an operator node's values from its operands' ranges (before the sign
    class's, which ``value_bounds`` intersects it with)."""
    name, params = expr.name, expr.params
    if name in BOUNDED_RANGES:
        return BOUNDED_RANGES[name]
    if name in _RANGE_KEEPING:
        return kids[0]
    if name == "Add":
        return _hull(kids[0][0] + kids[1][0], kids[0][1] + kids[1][1])
    if name == "Sub":
        return _hull(kids[0][0] - kids[1][1], kids[0][1] - kids[1][0])
    if name == "Greater":
        return max(kids[0][0], kids[1][0]), max(kids[0][1], kids[1][1])
    if name == "Less":
        return min(kids[0][0], kids[1][0]), min(kids[0][1], kids[1][1])
    if name == "If":
        return min(kids[1][0], kids[2][0]), max(kids[1][1], kids[2][1])
    if name == "Abs":
        return _abs(kids[0])
    if name == "Delta":  # x - Ref(x, d): two values of one range
        return _hull(kids[0][0] - kids[0][1], kids[0][1] - kids[0][0])
    if name == "Sum":  # a full window of w values
        return _scaled(kids[0], float(params[0]))
    if name == "WMA":  # Qlib's WMA: a weighted average divided by the window
        return _scaled(kids[0], 1.0 / float(params[0]))
    if name == "Count":
        return 0.0, float(params[0])
    if name in _SPREADS and all(math.isfinite(x) for kid in kids for x in kid):
        return _spread_bounds(name, kids, int(params[0]))
    if name == "Mul":
        return _product(kids[0], kids[1])
    if name == "Div" and isinstance(expr.children[1], Constant) and expr.children[1].value:
        return _scaled(kids[0], 1.0 / expr.children[1].value)
    if name == "Log" and kids[0][0] > 0.0:
        return math.log(kids[0][0]), math.log(kids[0][1]) if math.isfinite(kids[0][1]) else math.inf
    return _ANY


def _bounds(expr: Expr, memo: dict[str, Interval], signs: dict[str, str]) -> Interval:
    key = str(expr)
    if key in memo:
        return memo[key]
    if isinstance(expr, Constant):
        bounds = (expr.value, expr.value)
    else:
        lo, hi = _SIGN_INTERVAL.get(expr_sign(expr, signs), _ANY)
        if expr.kind == "op":
            kids = [_bounds(c, memo, signs) for c in expr.children]
            op_lo, op_hi = _operator_bounds(expr, kids)
            lo, hi = max(lo, op_lo), min(hi, op_hi)
        bounds = (lo, hi) if lo <= hi else _ANY
    memo[key] = bounds
    return bounds


def value_bounds(expr: Expr) -> Interval:
    """A closed interval holding every finite value of ``expr``: literals are exact, fields and
    unknown operators give their sign class's range, bounded operators theirs (``Corr`` -1..1),
    averages, lags, sums, shifts, factors, Greater/Less, Abs and Log carry ranges up, and a
    rolling Std, Var, Mad or Cov of finite ranges is bounded by their widths."""
    return _bounds(expr, {}, {})


def decided_comparisons(expr: Expr) -> list[str]:
    """Texts of the comparisons in ``expr`` whose outcome the operands' ``value_bounds`` fix:
    ``Greater(2, Med(Corr($close, $volume, 20), 20))`` is always 2, ``Gt(Add(Rank($close, 10),
    3), 2)`` always 1."""
    memo: dict[str, Interval] = {}
    signs: dict[str, str] = {}
    found: list[str] = []
    for node in expr.walk():
        if node.kind != "op" or node.name not in _COMPARISONS or str(node) in found:
            continue
        first, second = (_bounds(c, memo, signs) for c in node.children)
        if comparison_decided(node.name, first, second):
            found.append(str(node))
    return found


def decided_folds(expr: Expr) -> list[tuple[str, str]]:
    """(text, what it is) of each Abs in ``expr`` whose operand's ``value_bounds`` lie on one
    side of 0 though its sign class does not say so (the node rules report those), and of each
    Sign whose operand is always positive or always negative: ``Abs(Add(Corr($close, $open, 10),
    30))`` is its operand, ``Sign(Add(Corr($close, $open, 10), 30))`` and ``Sign($close)`` 1."""
    memo: dict[str, Interval] = {}
    signs: dict[str, str] = {}
    found: list[tuple[str, str]] = []
    for node in expr.walk():
        if node.kind != "op" or node.name not in ("Abs", "Sign") or len(node.children) != 1:
            continue
        sign = expr_sign(node.children[0], signs)
        lo, hi = _bounds(node.children[0], memo, signs)
        if node.name == "Abs" and sign not in _SIGN_INTERVAL and (lo >= 0.0 or hi <= 0.0):
            what = "its operand" if lo >= 0.0 else "its operand's negation"
        elif node.name == "Sign" and (sign == POSITIVE or lo > 0.0):
            what = "the constant 1"
        elif node.name == "Sign" and (sign == NEGATIVE or hi < 0.0):
            what = "the constant -1"
        else:
            continue
        if all(text != str(node) for text, _ in found):
            found.append((str(node), what))
    return found


def _affine_form(expr: Expr) -> tuple[Expr, float, float]:
    """(core, a, b) with ``expr`` equal to ``a * core + b``, the core being ``expr`` less its
    outer Adds, Subs and Muls with one literal operand and Divs by a nonzero literal."""
    a, b = 1.0, 0.0
    node = expr
    while node.kind == "op" and node.name in ("Add", "Sub", "Mul", "Div"):
        if len(node.children) != 2:
            break
        first, second = node.children
        literal_first = isinstance(first, Constant)
        if literal_first == isinstance(second, Constant) or (node.name == "Div" and literal_first):
            break
        literal, other = (first, second) if literal_first else (second, first)
        value = literal.value
        if node.name == "Add":
            scale, shift = 1.0, value
        elif node.name == "Sub":
            scale, shift = (-1.0, value) if literal_first else (1.0, -value)
        elif node.name == "Mul":
            scale, shift = value, 0.0
        elif value != 0.0:
            scale, shift = 1.0 / value, 0.0
        else:
            break
        a, b = a * scale, a * shift + b
        node = other
    return node, a, b


def shared_cores(expr: Expr) -> list[tuple[str, str, str]]:
    """(text, core, what it is) of each sum, difference, quotient or comparison in ``expr``
    whose two operands are different constant shifts or multiples of one operator expression
    (the node rules report those of one field): ``Sub(Corr($close, $open, 10), Mul(Corr($close,
    $open, 10), 2))`` is a function of the Corr alone, ``Sub(Div($close, $open), Add(Div($close,
    $open), 0.5))`` the constant -0.5. What it is: ``"constant"`` for a
    sum or difference whose terms in the core cancel and a Gt .. Ne the core's ``value_bounds``
    decide, ``"operand"`` for a Greater or Less they decide, else ``"function"``."""
    memo: dict[str, Interval] = {}
    signs: dict[str, str] = {}
    found: list[tuple[str, str, str]] = []
    for node in expr.walk():
        if node.kind != "op" or len(node.children) != 2:
            continue
        if node.name not in AFFINE_OPS and node.name not in _COMPARISONS:
            continue
        first, second = node.children
        if not first.features or not second.features or str(first) == str(second):
            continue
        (core, a0, b0), (other, a1, b1) = _affine_form(first), _affine_form(second)
        if core.kind != "op" or str(core) != str(other):
            continue
        text = str(node)
        if any(t == text for t, _, _ in found):
            continue
        what = "function"
        if node.name in ("Add", "Sub"):
            slope = a0 + a1 if node.name == "Add" else a0 - a1
            if math.isclose(slope, 0.0, abs_tol=1e-12 * max(abs(a0), abs(a1))):
                what = "constant"
        elif node.name in _COMPARISONS:
            gap = _scaled(_bounds(core, memo, signs), a0 - a1)
            gap = (gap[0] + b0 - b1, gap[1] + b0 - b1)
            if comparison_decided(node.name, gap, (0.0, 0.0)):
                what = "operand" if node.name in ("Greater", "Less") else "constant"
        found.append((text, str(core), what))
    return found


def _negative_literal(node: Expr) -> bool:
    return isinstance(node, Constant) and node.value < 0.0


class _Negation(NamedTuple):
    """A node that is the exact negation of a formula: the node whose negative literal makes it
    so (``holder``) and that formula (``positive``)."""

    holder: str
    positive: Expr


class SignFinding(NamedTuple):
    """A node whose negative constants do nothing but flip a sign it ignores or undoes: its text,
    the negated operand(s), the node holding the first negative literal, and the same node
    without the sign (equal to it, bit for bit)."""

    node: str
    operand: str
    holder: str
    simpler: str


def _flipped(node: Expr, memo: dict[str, _Negation | None]) -> list[tuple[int, _Negation]]:
    """(index, negation) of each operand that flips the sign of a two-operand node: a negation
    and, in a product, quotient, comparison, sum or difference, a negative literal (held by the
    node itself, its positive form the literal written positive)."""
    out: list[tuple[int, _Negation]] = []
    for i, child in enumerate(node.children):
        if node.name in _LITERAL_FLIPS and _negative_literal(child):
            out.append((i, _Negation(str(node), Constant(-child.value))))
        elif child.features and (negation := _negation(child, memo)) is not None:
            out.append((i, negation))
    return out


def _unflipped(node: Expr, flips: list[tuple[int, _Negation]], name: str = "") -> Expr:
    """``node`` (or operator ``name`` on its operands) with each flipped operand positive; a
    factor of 1 left by a literal -1 is dropped."""
    kids = list(node.children)
    for i, negation in flips:
        kids[i] = negation.positive
    name = name or node.name
    one = [isinstance(k, Constant) and k.value == 1.0 for k in kids]
    if name == "Mul" and any(one) and not all(one):
        return kids[one.index(False)]
    if name == "Div" and one[-1]:
        return kids[0]
    return Op.make(name, kids, node.params)


def _negation(node: Expr, memo: dict[str, _Negation | None]) -> _Negation | None:
    """How ``node`` is the exact negation of a formula written without a negative constant, or
    None: a product or quotient with one negative literal or negated operand, a Corr or Cov
    with one negated operand, a sum or difference of two negations (a negative literal counts
    as one), a negation less anything (``Sub(Mul($high, -1), $low)`` is minus ``Add($high,
    $low)``, ``Sub(-10, x)`` minus ``Add(10, x)``), a negation through an operator that carries
    a sign (``_SIGN_ODD``) or through one that turns into its mirror (Max and Min of one
    negation, Greater and Less of two)."""
    key = str(node)
    if key in memo:
        return memo[key]
    found: _Negation | None = None
    name = node.name if node.kind == "op" else ""
    if len(node.children) == 2 and name in ("Add", "Sub", *_PAIR_SIGN_BLIND, *_MIRRORS):
        flips = _flipped(node, memo)
        holder = flips[0][1].holder if flips else ""
        if len(flips) == 1 and name in _PAIR_SIGN_BLIND:  # odd in each operand
            found = _Negation(holder, _unflipped(node, flips))
        elif len(flips) == 2 and name in ("Add", "Sub"):
            found = _Negation(holder, _unflipped(node, flips))
        elif len(flips) == 2 and name in _MIRRORS:  # Greater(-x, -y) is -Less(x, y)
            found = _Negation(holder, _unflipped(node, flips, _MIRRORS[name]))
        elif len(flips) == 1 and name == "Sub" and flips[0][0] == 0:  # -x - y is -(x + y)
            found = _Negation(holder, _unflipped(node, flips, "Add"))
    elif len(node.children) == 1 and (name in _SIGN_ODD or name in _MIRRORS):
        inner = _negation(node.children[0], memo)
        if inner is not None:
            positive = Op.make(_MIRRORS.get(name, name), [inner.positive], node.params)
            found = _Negation(inner.holder, positive)
    memo[key] = found
    return found


#: A memo of ``_negation`` by node text, which the negation rules on one formula may share.
NegationMemo = dict[str, _Negation | None]


def idle_signs(expr: Expr, memo: NegationMemo | None = None) -> list[SignFinding]:
    """Each node of ``expr`` that ignores the sign a negative constant gives its operand: an
    operator blind to sign (Abs, Std, Var, Mad, Kurt, Rsquare) of a negation (``Std(Mul($high,
    -1), 40)`` is ``Std($high, 40)``, ``Std(Sub(Mul($high, -1), $low), 40)`` is
    ``Std(Add($high, $low), 40)``, ``Mad(Min(Div($close, -5), 10), 20)`` is ``Mad(Max(Div($close,
    5), 10), 20)``), and a product, quotient, Corr or Cov of two negations (``Corr(Mul($close,
    -1), Mul($open, -2), 10)`` is ``Corr($close, Mul($open, 2), 10)``), the two signs
    cancelling. A negation is what ``_negation`` finds: a product or quotient with one negative
    literal, carried up through sums, differences, products, quotients, Corr and Cov, the
    operators that keep a sign (Ref, Mean, Sum, Med, EMA, WMA, Delta, Skew, Sign, Slope, Resi,
    CSDemean, CSZScore) and those that turn into their mirror (Max, Min, Greater, Less). Pass
    one ``memo`` to the negation rules on the same formula to find its negations once."""
    memo = {} if memo is None else memo
    found: list[SignFinding] = []
    for node in expr.walk():
        text = str(node)
        if node.kind != "op" or any(f.node == text for f in found):
            continue
        flips: list[tuple[int, _Negation]] = []
        if node.name in _SIGN_BLIND and len(node.children) == 1:
            inner = _negation(node.children[0], memo)
            flips = [(0, inner)] if inner is not None else []
        elif node.name in _PAIR_SIGN_BLIND and len(node.children) == 2:
            flips = _flipped(node, memo)
            flips = flips if len(flips) == 2 else []
        named = [n.holder for _, n in flips if n.holder != text]  # a literal's holder: the node
        if not named:
            continue
        operand = " and ".join(str(node.children[i]) for i, _ in flips)
        found.append(SignFinding(text, operand, named[0], str(_unflipped(node, flips))))
    return found


def double_negatives(expr: Expr, memo: NegationMemo | None = None) -> list[SignFinding]:
    """Each difference in ``expr`` whose subtrahend is a negation (as ``idle_signs`` finds
    one): subtracting it adds its positive form (``Sub($open, Div($close, -5))`` is
    ``Add($open, Div($close, 5))``, ``Sub(x, Mul(y, -1))`` is ``Add(x, y)``), as the grammar
    writes ``Add(x, 1)`` for ``Sub(x, -1)``. ``memo`` as for ``idle_signs``."""
    memo = {} if memo is None else memo
    found: list[SignFinding] = []
    for node in expr.walk():
        if node.kind != "op" or node.name != "Sub" or len(node.children) != 2:
            continue
        inner = _negation(node.children[1], memo)
        text = str(node)
        if inner is not None and all(f.node != text for f in found):
            simpler = Op.make("Add", [node.children[0], inner.positive])
            found.append(SignFinding(text, str(node.children[1]), inner.holder, str(simpler)))
    return found


def negated_formula(expr: Expr, memo: NegationMemo | None = None) -> SignFinding | None:
    """The finding when ``expr`` as a whole is a negation (as ``idle_signs`` finds one): minus
    a formula without the negative constant, whose per-date ranks and ICs are the same up to
    sign (``Div(Sub(Mul($high, -1), $low), $close)`` is minus ``Div(Add($high, $low),
    $close)``), as the grammar ends no formula on an outermost constant factor. ``memo`` as for
    ``idle_signs``."""
    negation = _negation(expr, {} if memo is None else memo) if expr.kind == "op" else None
    if negation is None:
        return None
    text = str(expr)
    return SignFinding(text, text, negation.holder, str(negation.positive))


#: The reasons ``formula_refusal`` gives, which the miner's pool reports and pays nothing for.
REFUSAL_REASONS: tuple[str, ...] = (
    "cancels",
    "idle guard",
    "decided",
    "shared core",
    "idle sign",
    "double negative",
    "negated",
)


def formula_refusal(expr: Expr) -> tuple[str, str] | None:
    """(reason, node text) when ``expr`` has a finding that needs more of the formula than a
    node's operands, which the miner's grammar leaves to its pool: ``"cancels"`` (a factor in
    both the numerator and the denominator of a product or quotient, ``cancelling_node``),
    ``"idle guard"`` (a guard against 0 that nothing divides by or takes the log of,
    ``idle_guards``) or ``"decided"`` (a comparison, Abs or Sign the operands' ranges decide,
    ``decided_comparisons`` and ``decided_folds``) or ``"shared core"`` (a sum, difference,
    quotient or comparison of two constant shifts or multiples of one operator expression,
    ``shared_cores``) or ``"idle sign"`` (a negative constant whose sign an operator above it
    ignores, ``idle_signs``) or ``"double negative"`` (a difference whose subtrahend is a
    negation, ``double_negatives``) or ``"negated"`` (the whole formula is a negation,
    ``negated_formula``); else None."""
    cancelling = cancelling_node(expr)
    if cancelling is not None:
        return REFUSAL_REASONS[0], cancelling[0]
    idle = idle_guards(expr)
    if idle:
        return REFUSAL_REASONS[1], idle[0]
    decided = decided_comparisons(expr) + [text for text, _ in decided_folds(expr)]
    if decided:
        return REFUSAL_REASONS[2], decided[0]
    shared = shared_cores(expr)
    if shared:
        return REFUSAL_REASONS[3], shared[0][0]
    memo: NegationMemo = {}
    signs = idle_signs(expr, memo)
    if signs:
        return REFUSAL_REASONS[4], signs[0].node
    doubled = double_negatives(expr, memo)
    if doubled:
        return REFUSAL_REASONS[5], doubled[0].node
    negated = negated_formula(expr, memo)
    return (REFUSAL_REASONS[6], negated.node) if negated is not None else None
