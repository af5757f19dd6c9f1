"""Expression trees: Feature, Constant and Op nodes with lookback, units and a canonical string.

Every node carries, fixed at construction:

* ``name``: the operator name, the field name for a feature (``"close"``), or the number's text
  for a constant;
* ``children``: operand nodes (tuple; numeric parameters such as windows are in ``params``);
* ``params``: numeric parameters (window, offset, span, quantile), a tuple, empty for non-ops;
* ``depth`` (a leaf has depth 1), ``size`` (node count), ``features`` (frozenset of field names);
* ``lookback``: history rows needed; a rolling window w over a child with lookback L needs
  L + w - 1, ``Ref(x, d)`` and ``Delta(x, d)`` add d; ``future``: rows after t read (labels only);
* ``unit``: a string such as ``"price"``, ``"volume"``, ``"price*volume"``, ``"ratio"``,
  ``"count"``, ``"bool"``, ``"const"``, ``"unknown"``.

The canonical string is Qlib's function-call form without spaces, e.g. ``Div(Mean($close,10),
$close)``; infix operators appear as their names (``Add``, ``Gt``, ...), unary minus as
``Mul(-1,x)``. Trees hash and compare by this string, and it parses back to an equal tree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from quantrl.alpha import dimensions as _dims
from quantrl.alpha import ops as _ops
from quantrl.alpha.dimensions import Unit
from quantrl.alpha.ops import OpSpec
from quantrl.errors import FormulaError


class Expr:
    """Base class of expression nodes (immutable, hashable, compared by canonical string)."""

    __slots__ = (
        "name",
        "children",
        "params",
        "depth",
        "size",
        "lookback",
        "future",
        "features",
        "_unit",
        "_str",
        "_hash",
    )

    name: str
    children: tuple[Expr, ...]
    params: tuple[Any, ...]
    depth: int
    size: int
    lookback: int
    future: int
    features: frozenset[str]

    def _finish(self, text: str, unit: Unit) -> None:
        object.__setattr__(self, "_str", text)
        object.__setattr__(self, "_hash", hash(text))
        object.__setattr__(self, "_unit", unit)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    @property
    def unit(self) -> str:
        """Unit label of the node's values (price, volume, ratio, count, bool, ...)."""
        return str(self._unit)

    @property
    def unit_info(self) -> Unit:
        """Structured unit (kind and price/volume exponents)."""
        return self._unit

    @property
    def kind(self) -> str:
        """``"feature"``, ``"constant"`` or ``"op"``."""
        raise NotImplementedError

    @property
    def is_featured(self) -> bool:
        """True when the node depends on market data (not a pure constant)."""
        return bool(self.features)

    @property
    def window(self) -> int | None:
        """Window (or offset/span) of a rolling operator, else None."""
        return None

    def walk(self) -> Iterator[Expr]:
        """Yield every node, parents before children (pre-order)."""
        yield self
        for c in self.children:
            yield from c.walk()

    def operators(self) -> list[str]:
        """Operator names used in the tree, pre-order, with repetitions."""
        return [n.name for n in self.walk() if isinstance(n, Op)]

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._str!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expr):
            return NotImplemented
        return self._str == other._str

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return self._hash

    # Python operators build trees: ``Feature("close") / Op.make("Mean", ...)``.
    def __add__(self, other: Expr | float) -> Op:
        return Op.make("Add", (self, _wrap(other)))

    def __radd__(self, other: float) -> Op:
        return Op.make("Add", (_wrap(other), self))

    def __sub__(self, other: Expr | float) -> Op:
        return Op.make("Sub", (self, _wrap(other)))

    def __rsub__(self, other: float) -> Op:
        return Op.make("Sub", (_wrap(other), self))

    def __mul__(self, other: Expr | float) -> Op:
        return Op.make("Mul", (self, _wrap(other)))

    def __rmul__(self, other: float) -> Op:
        return Op.make("Mul", (_wrap(other), self))

    def __truediv__(self, other: Expr | float) -> Op:
        return Op.make("Div", (self, _wrap(other)))

    def __rtruediv__(self, other: float) -> Op:
        return Op.make("Div", (_wrap(other), self))

    def __neg__(self) -> Expr:
        if isinstance(self, Constant):
            return Constant(-self.value)
        return Op.make("Mul", (Constant(-1.0), self))

    def __abs__(self) -> Op:
        return Op.make("Abs", (self,))


def _wrap(value: Expr | float) -> Expr:
    return value if isinstance(value, Expr) else Constant(float(value))


class Feature(Expr):
    """A panel field, written ``$name``; evaluates to ``panel[name]``."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (Feature, (self.name,))

    def __init__(self, field: str) -> None:
        field = str(field).lstrip("$")
        if not field or not (field[0].isalpha() or field[0] == "_"):
            raise FormulaError(f"invalid feature name {field!r}", formula=f"${field}", position=0)
        for key, value in (
            ("name", field),
            ("children", ()),
            ("params", ()),
            ("depth", 1),
            ("size", 1),
            ("lookback", 0),
            ("future", 0),
            ("features", frozenset((field,))),
        ):
            object.__setattr__(self, key, value)
        self._finish("$" + field, _dims.field_unit(field))

    @property
    def kind(self) -> str:
        """``"feature"``."""
        return "feature"

    @property
    def field(self) -> str:
        """Panel field name (without ``$``)."""
        return self.name


class Constant(Expr):
    """A numeric literal; broadcasts against the panel."""

    __slots__ = ("value",)

    def __reduce__(self) -> tuple[Any, tuple[float]]:
        return (Constant, (self.value,))

    def __init__(self, value: float) -> None:
        v = float(value)
        if v != v or v in (float("inf"), float("-inf")):
            raise FormulaError(f"constant must be finite, got {value}")
        if v == 0.0:
            v = 0.0  # no negative zero
        text = _ops.format_number(v)
        object.__setattr__(self, "value", v)
        for key, val in (
            ("name", text),
            ("children", ()),
            ("params", ()),
            ("depth", 1),
            ("size", 1),
            ("lookback", 0),
            ("future", 0),
            ("features", frozenset()),
        ):
            object.__setattr__(self, key, val)
        self._finish(text, _dims.CONST)

    @property
    def kind(self) -> str:
        """``"constant"``."""
        return "constant"


class Op(Expr):
    """An operator applied to operand nodes and numeric parameters."""

    __slots__ = ("spec",)

    spec: OpSpec

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Op.make, (self.name, self.children, self.params))

    def __init__(self, spec: OpSpec, children: Sequence[Expr], params: Sequence[Any] = ()) -> None:
        children = tuple(children)
        params = tuple(params)
        for c in children:
            if not isinstance(c, Expr):
                raise FormulaError(
                    f"{spec.name}: operands must be expressions, got {type(c).__name__} {c!r}",
                    formula=spec.name,
                    position=0,
                )
        for p in params:
            if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
                raise FormulaError(
                    f"{spec.name}: parameters must be numbers, got {p!r}",
                    formula=spec.name,
                    position=0,
                )
        text = f"{spec.name}({','.join([str(c) for c in children] + [_ops.format_number(p) for p in params])})"
        if len(children) != spec.n_inputs or len(params) != len(spec.params):
            raise FormulaError(
                f"{spec.name} expects {spec.n_inputs} operand(s) and {len(spec.params)} "
                f"parameter(s) ({spec.signature()}), got {len(children)} and {len(params)}",
                formula=text,
                position=0,
            )
        depth = 1 + max((c.depth for c in children), default=0)
        if depth > _ops.MAX_DEPTH:
            raise FormulaError(
                f"formula nested too deep: depth {depth} exceeds the maximum {_ops.MAX_DEPTH}",
                formula=spec.name,
                position=0,
            )
        normal = []
        for kind, p in zip(spec.params, params, strict=True):
            value, err = _ops.check_param(spec, kind, p)
            if err:
                raise FormulaError(err, formula=text, position=len(spec.name) + 1)
            normal.append(value)
        params = tuple(normal)
        if not any(c.is_featured for c in children):
            raise FormulaError(
                f"{spec.name} needs at least one operand that depends on market data",
                formula=text,
                position=0,
            )
        if spec.category == "pair_rolling" and not all(c.is_featured for c in children):
            raise FormulaError(
                f"{spec.name} needs two market-data operands, got a constant",
                formula=text,
                position=0,
            )
        if spec.category in ("rolling", "cross_section") and not children[0].is_featured:
            raise FormulaError(
                f"{spec.name} needs a market-data operand, got a constant",
                formula=text,
                position=0,
            )
        text = f"{spec.name}({','.join([str(c) for c in children] + [_ops.format_number(p) for p in params])})"
        base = max(c.lookback for c in children)
        future = max(c.future for c in children) + spec.future_rows(params)
        unit = spec.unit_rule([c._unit for c in children], params)
        if spec.name == "Power" and isinstance(children[1], Constant):
            unit = _dims.pow_unit(children[0]._unit, children[1].value)
        for key, val in (
            ("name", spec.name),
            ("spec", spec),
            ("children", children),
            ("params", params),
            ("depth", 1 + max(c.depth for c in children)),
            ("size", 1 + sum(c.size for c in children)),
            ("lookback", base + spec.window_rows(params)),
            ("future", future),
            ("features", frozenset().union(*(c.features for c in children))),
        ):
            object.__setattr__(self, key, val)
        self._finish(text, unit)

    @classmethod
    def make(cls, name: str, children: Sequence[Expr], params: Sequence[Any] = ()) -> Op:
        """Build an operator node by name (``Op.make("Mean", [Feature("close")], [10])``)."""
        spec = _ops.lookup(name)
        if spec is None:
            raise FormulaError(f"unknown operator {name!r}", formula=str(name), position=0)
        return cls(spec, children, params)

    @property
    def kind(self) -> str:
        """``"op"``."""
        return "op"

    @property
    def category(self) -> str:
        """unary, binary, ternary, rolling, pair_rolling or cross_section."""
        return self.spec.category

    @property
    def window(self) -> int | None:
        """Window (or offset/span) of a rolling operator, else None."""
        return self.params[0] if self.params else None


def unit_issues(expr: Expr) -> list[str]:
    """List unit inconsistencies, e.g. ``"Add(price, volume) at Add($close,$volume)"``."""
    issues: list[str] = []
    seen: set[str] = set()
    for node in expr.walk():
        if not isinstance(node, Op) or str(node) in seen:
            continue
        seen.add(str(node))
        if _dims.breaks_log_level(node.name, [c._unit for c in node.children]):
            labels = ", ".join(str(c._unit) for c in node.children)
            issues.append(f"{node.name}({labels}) at {node}")
            continue
        idx = node.spec.same_unit
        if not idx:
            continue
        units = [node.children[i]._unit for i in idx]
        if _dims.units_conflict(units):
            labels = ", ".join(str(u) for u in units)
            issues.append(f"{node.name}({labels}) at {node}")
    return issues


def feature(name: str) -> Feature:
    """Shorthand for ``Feature(name)``."""
    return Feature(name)


def constant(value: float) -> Constant:
    """Shorthand for ``Constant(value)``."""
    return Constant(value)


def replace_node(expr: Expr, index: int, new: Expr) -> Expr:
    """Copy of ``expr`` with its pre-order node ``index`` replaced by ``new`` (may raise)."""
    counter = [0]

    def visit(node: Expr) -> Expr:
        i = counter[0]
        counter[0] += 1
        if i == index:
            counter[0] += node.size - 1
            return new
        if not node.children:
            return node
        kids = tuple(visit(c) for c in node.children)
        if all(a is b for a, b in zip(kids, node.children, strict=True)):
            return node
        assert isinstance(node, Op)
        return Op(node.spec, kids, node.params)

    return visit(expr)
