"""Units and sign classes of formula values: the dimensional algebra the operators declare.

A value's ``Unit`` is price^p * volume^v (or a count, a 0/1 flag, a literal that adapts to its
partner, unknown, or the log of price^p * volume^v); its sign class is positive, non-negative
or signed.

The log of a quantity with a unit is a *log-level*: changing the unit of a symbol's prices
(a split, a currency) shifts it by a constant per symbol, so its cross-sectional ranks are
those of the level itself. Differences of log-levels of one unit (``Log($high) -
Log($low)``), changes, spreads and correlations cancel the shift and are ratios; means, lags
and extremes keep it; a product or quotient with a log-level depends on the unit and is a
conflict. The operator registry
(``quantrl.alpha.ops``) gives each operator a unit rule built from these functions; expression
trees, the miner's grammar and the rule-based logic judge read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    """Physical unit of a series: price^p * volume^v, or a special kind.

    ``kind`` is ``"dim"`` (use ``price``/``volume`` exponents; 0/0 is a dimensionless ratio),
    ``"log"`` (the log of price^p * volume^v, p/v not both 0: a log-level), ``"count"``
    (numbers of rows), ``"bool"`` (0/1 flags), ``"const"`` (a literal: adapts to its partner)
    or ``"unknown"``. Count and bool are dimensionless for consistency checks.
    """

    kind: str = "dim"
    price: Fraction = Fraction(0)
    volume: Fraction = Fraction(0)

    @property
    def is_checked(self) -> bool:
        """True when the unit takes part in consistency checks (not const/unknown)."""
        return self.kind in ("dim", "log", "count", "bool")

    @property
    def dims(self) -> tuple[Fraction, Fraction]:
        """(price exponent, volume exponent), of the logged quantity for a log-level; zero for
        count and bool."""
        if self.kind in ("dim", "log"):
            return (self.price, self.volume)
        return (Fraction(0), Fraction(0))

    @property
    def _check_key(self) -> tuple[bool, tuple[Fraction, Fraction]]:
        return (self.kind == "log", self.dims)

    def __str__(self) -> str:
        if self.kind == "log":
            return f"log({Unit('dim', self.price, self.volume)})"
        if self.kind != "dim":
            return self.kind
        parts_num, parts_den = [], []
        for label, e in (("price", self.price), ("volume", self.volume)):
            if e == 0:
                continue
            target = parts_num if e > 0 else parts_den
            mag = abs(e)
            target.append(label if mag == 1 else f"{label}^{mag}")
        if not parts_num and not parts_den:
            return "ratio"
        num = "*".join(parts_num) if parts_num else "1"
        return num + ("/" + "*".join(parts_den) if parts_den else "")


PRICE = Unit("dim", Fraction(1), Fraction(0))
VOLUME = Unit("dim", Fraction(0), Fraction(1))
RATIO = Unit("dim")
COUNT = Unit("count")
BOOL = Unit("bool")
CONST = Unit("const")
UNKNOWN = Unit("unknown")

FIELD_UNITS: dict[str, Unit] = {
    "open": PRICE,
    "high": PRICE,
    "low": PRICE,
    "close": PRICE,
    "vwap": PRICE,
    "adj_close": PRICE,
    "volume": VOLUME,
    "amount": Unit("dim", Fraction(1), Fraction(1)),
}


def field_unit(name: str) -> Unit:
    """Unit of a panel field (price for OHLC/vwap, volume, amount = price*volume, else unknown)."""
    return FIELD_UNITS.get(name, UNKNOWN)


def log_unit(a: Unit) -> Unit:
    """Unit of the log of ``a``: a log-level for price^p * volume^v, else a ratio."""
    if a.kind == "dim" and a.dims != (0, 0):
        return Unit("log", a.price, a.volume)
    return RATIO


def level_unit(a: Unit, n: Fraction | int = 1) -> Unit:
    """Log-level of n times ``a``'s logged exponents (a ratio when they vanish)."""
    p, v = a.price * n, a.volume * n
    return RATIO if p == 0 and v == 0 else Unit("log", p, v)


def spread_unit(a: Unit) -> Unit:
    """Unit of a change or spread of ``a`` (Delta, Std, Mad, Slope...): a log-level's is a
    ratio (the per-symbol shift cancels), any other unit's its own."""
    return RATIO if a.kind == "log" else a


def mul_units(a: Unit, b: Unit, sign: int = 1) -> Unit:
    """Unit of a product (``sign=1``) or a quotient (``sign=-1``); a constant adapts; a
    log-level scaled by anything is unknown (``breaks_log_level`` flags the node)."""
    if a.kind == "log" or b.kind == "log":
        return UNKNOWN
    if a.kind == "const":
        if b.kind == "const":
            return CONST
        return b if sign == 1 else pow_unit(b, -1)
    if b.kind == "const":
        return a
    if not (a.is_checked and b.is_checked):
        return UNKNOWN
    p = a.dims[0] + sign * b.dims[0]
    v = a.dims[1] + sign * b.dims[1]
    return Unit("dim", p, v)


def pow_unit(a: Unit, e: float) -> Unit:
    """Unit of ``a`` raised to ``e`` (exponents as fractions up to twelfths)."""
    if a.kind == "const":
        return CONST
    if not a.is_checked or a.kind == "log":
        return UNKNOWN
    try:
        f = Fraction(e).limit_denominator(12)
    except (ValueError, OverflowError):
        return UNKNOWN
    return Unit("dim", a.dims[0] * f, a.dims[1] * f)


def same_unit(units: Sequence[Unit]) -> Unit:
    """Unit of an operation whose operands must agree (Add, Greater, If branches...)."""
    checked = [u for u in units if u.kind != "const"]
    if not checked:
        return CONST
    if any(not u.is_checked for u in checked):
        return UNKNOWN
    first = checked[0]
    if any(u.kind == "log" for u in checked):
        return first if all(u == first for u in checked) else UNKNOWN
    if all(u.dims == first.dims for u in checked):
        if first.kind != "dim" and all(u.kind == first.kind for u in checked):
            return first
        return Unit("dim", *first.dims) if len({u.kind for u in checked}) > 1 else first
    return UNKNOWN


def sum_unit(a: Unit, b: Unit, sign: int = 1) -> Unit:
    """Unit of a sum (``sign=1``) or a difference (``sign=-1``): the operands' common unit;
    two log-levels add their logged exponents (``Log($high) - Log($low)`` is a ratio)."""
    if a.kind == "log" and b.kind == "log":
        return level_unit(Unit("dim", a.price + sign * b.price, a.volume + sign * b.volume))
    if a.kind == "log" and b.kind == "const":
        return a
    if a.kind == "const" and b.kind == "log":
        return level_unit(b, sign)  # c - log x is the log-level of 1 / x
    return same_unit([a, b])


def units_conflict(units: Sequence[Unit]) -> bool:
    """True when two checked operands have different dimensions (a log-level only agrees with
    a log-level of the same quantity)."""
    checked = [u for u in units if u.is_checked]
    return any(u._check_key != checked[0]._check_key for u in checked[1:])


#: Operators whose result on a log-level depends on the shift: scaling it (Mul, Div, Power), or
#: folding it at zero (Abs, Sign).
_LEVEL_BREAKING = frozenset({"Mul", "Div", "Power", "Abs", "Sign"})


def breaks_log_level(name: str, units: Sequence[Unit]) -> bool:
    """True when an operator takes a log-level in a way whose result depends on the unit of
    each symbol's prices or volumes: ``Mul(Log($close), 2)``, ``Div(Log($high), $low)``,
    ``Abs(Log($low))`` (a per-symbol shift does not pass through these)."""
    return name in _LEVEL_BREAKING and any(u.kind == "log" for u in units)


def scale_free(unit: Unit) -> bool:
    """True for units comparable across symbols: ratio, count, bool, const and unknown (not a
    raw level, nor a log-level)."""
    if unit.kind == "log":
        return False
    if unit.kind == "dim":
        return unit.price == 0 and unit.volume == 0
    return True


# --------------------------------------------------------------------------- signs

POSITIVE = "pos"
NONNEGATIVE = "nonneg"
NEGATIVE = "neg"
NONPOSITIVE = "nonpos"
SIGNED = "any"

#: Sign class of each field: prices, volumes and amounts are positive; other fields signed.
FIELD_SIGNS: dict[str, str] = {name: POSITIVE for name in FIELD_UNITS}

#: Operators whose result has the sign class of their (first) operand.
_SIGN_KEEPING = frozenset({"Ref", "Mean", "Sum", "Med", "Max", "Min", "WMA", "EMA", "Quantile"})
_SIGN_NONNEG = frozenset(
    {"Abs", "Std", "Var", "Mad", "Count", "Rsquare", "Not", "And", "Or"}
    | {"Gt", "Ge", "Lt", "Le", "Eq", "Ne"}
)
_SIGN_POSITIVE = frozenset({"IdxMax", "IdxMin", "Rank", "CSRank"})
#: The signs (-1, 0, 1) a value of each class may take, and the class of a set of signs.
_SIGNS: dict[str, frozenset[int]] = {
    POSITIVE: frozenset({1}),
    NONNEGATIVE: frozenset({0, 1}),
    NEGATIVE: frozenset({-1}),
    NONPOSITIVE: frozenset({-1, 0}),
    SIGNED: frozenset({-1, 0, 1}),
}
_CLASS: dict[frozenset[int], str] = {v: k for k, v in _SIGNS.items()}
_CLASS[frozenset({0})] = NONNEGATIVE  # 0 itself: the literal 0, a product with 0


def field_sign(name: str) -> str:
    """Sign class of a panel field: ``"pos"`` for prices, volumes and amounts, else ``"any"``."""
    return FIELD_SIGNS.get(name, SIGNED)


def constant_sign(value: float) -> str:
    """Sign class of a literal: ``"pos"``, ``"nonneg"`` (0) or ``"neg"``."""
    return POSITIVE if value > 0 else (NONNEGATIVE if value == 0 else NEGATIVE)


def sign_set(sign: str) -> frozenset[int]:
    """The signs (-1, 0, 1) a value of sign class ``sign`` may take where finite."""
    return _SIGNS[sign]


def _class_of(signs: set[int] | frozenset[int]) -> str:
    return _CLASS.get(frozenset(signs), SIGNED)


def _sum_signs(a: frozenset[int], b: frozenset[int]) -> set[int]:
    out: set[int] = set()
    for x in a:
        for y in b:
            out |= {x} if x == y or y == 0 else {y} if x == 0 else {-1, 0, 1}
    return out


def result_sign(name: str, signs: Sequence[str], *, same: bool = False) -> str:
    """Sign class of an operator's result from its operands' classes.

    ``"pos"`` (always > 0 where finite), ``"nonneg"`` (>= 0), ``"neg"`` (< 0), ``"nonpos"``
    (<= 0) or ``"any"``. Means, sums, extremes, medians and lags keep their operand's class;
    Abs, Std, Var and Mad are non-negative; sums, differences, products and ratios follow the
    sign rules of arithmetic (a ratio needs a denominator that is never 0), and a product of
    two identical operands (``same``) is a square, never negative; Greater takes the larger
    sign, Less the smaller; everything else (logs, covariances, correlations...) is signed.
    """
    if name in _SIGN_KEEPING:
        return signs[0]
    if name in _SIGN_NONNEG:
        return NONNEGATIVE
    if name in _SIGN_POSITIVE:
        return POSITIVE
    sets = [_SIGNS[s] for s in signs]
    if name in ("Add", "Sub") and len(sets) == 2:
        b = sets[1] if name == "Add" else frozenset(-y for y in sets[1])
        return _class_of(_sum_signs(sets[0], b))
    if name == "Mul" and len(sets) == 2:
        if same:
            return _class_of({x * x for x in sets[0]})
        return _class_of({x * y for x in sets[0] for y in sets[1]})
    if name == "Div" and len(sets) == 2:
        if 0 in sets[1]:
            return SIGNED
        return _class_of({x * y for x in sets[0] for y in sets[1]})
    if name == "Greater" and len(sets) == 2:
        return _class_of({max(x, y) for x in sets[0] for y in sets[1]})
    if name == "Less" and len(sets) == 2:
        return _class_of({min(x, y) for x in sets[0] for y in sets[1]})
    if name == "If":
        return _class_of(set().union(*sets[1:]))
    return SIGNED


__all__ = [
    "BOOL",
    "CONST",
    "COUNT",
    "FIELD_SIGNS",
    "FIELD_UNITS",
    "NEGATIVE",
    "NONNEGATIVE",
    "NONPOSITIVE",
    "POSITIVE",
    "PRICE",
    "RATIO",
    "SIGNED",
    "UNKNOWN",
    "Unit",
    "VOLUME",
    "constant_sign",
    "field_sign",
    "field_unit",
    "level_unit",
    "breaks_log_level",
    "log_unit",
    "mul_units",
    "pow_unit",
    "result_sign",
    "same_unit",
    "scale_free",
    "sign_set",
    "spread_unit",
    "sum_unit",
    "units_conflict",
]
