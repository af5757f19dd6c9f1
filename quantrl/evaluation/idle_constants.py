"""Constants that do not change a formula's factor on a panel: scaling one leaves the per-date
transformed factor (z-scores or ranks) as it was.

The grammar's rules refuse the constants that no data can make matter (a shift inside a Std, a
factor inside a Corr). Others are idle only because of the values they meet:
``Div(Sub(Min(Max(Mul($low, 30), 20), 10), $high), $high)`` is ``30 * Min(Max($low, 20), 10) /
$high - 1``, the ranks of a ratio of lows to the high whatever the 30; ``Abs(Add(Cov(Log($close),
Log(Ref($open, 40)), 30), -10))`` is ``10 - Cov(...)``, as that covariance of logs never comes near
10; in ``Mul($volume, Div(Add(10, Log(Div($close, $high))), Sum(Std($volume, 20), 10)))`` the 10
swamps the log of a ratio that stays within a few percent of 0, so the factor is the volume over
its summed deviations. Such a formula is a simpler one in disguise, and only its values tell.
``idle_constants`` evaluates the formula once more per constant, with that constant scaled by
``SCALE``, and calls the constant idle when the transformed factors before and after correlate at
``IDLE_CORRELATION`` or more on average over the dates (rounding can break a tie between two ranks,
so an exactly idle constant scores 1 - 1e-7 rather than 1; a constant that matters, as the 5 in
``Mul($open, Add(5, Corr($high, $open, 50)))``, scores about 1 - 5e-4). A guard against 0 under a
Log, denominator or Power (``Log(Add($volume, 1))``,
``quantrl.evaluation.node_rules.working_guards``) is idle on most data by design and is not probed,
nor is a 0 (scaling cannot move it), nor the 1 of a reciprocal (``Div(1, $low)``) or of a return
(``Sub(Div($close, Ref($close, 5)), 1)``), which is how those are written. The miner's pool refuses
a formula with an idle constant (``AlphaPool(idle_constants=True)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantrl.alpha.engine import EvalCache, evaluate
from quantrl.alpha.expr import Constant, Expr, Op
from quantrl.alpha.parser import parse
from quantrl.errors import ConfigError, FormulaError
from quantrl.evaluation.node_rules import working_guards
from quantrl.kernels.cross_section import cs_rank_zscore_rows, cs_zscore_rows

__all__ = ["IDLE_CORRELATION", "SCALE", "IdleConstant", "idle_constants"]

#: The factor each constant is scaled by in the probe (same sign, away from round numbers).
SCALE = 1.37
#: Mean per-date correlation of the factor with the factor after the scaling at or above which
#: a constant is idle.
IDLE_CORRELATION = 0.9999


@dataclass(frozen=True)
class IdleConstant:
    """One constant of a formula and how much scaling it changes the formula's factor."""

    node: str  # canonical text of the operator that holds the constant
    value: float  # the constant
    correlation: float  # mean per-date correlation of the factor before and after the scaling


def _written_convention(parent: Op, index: int, value: float) -> bool:
    """Whether the constant ``value`` at ``parent.children[index]`` is the 1 of a reciprocal
    (``Div(1, x)``) or of a return (``Sub(Div(x, y), 1)``, ``Add(Div(x, y), -1)``): how those
    are written, not a constant that could take another value."""
    other = parent.children[1 - index] if len(parent.children) == 2 else None
    quotient = isinstance(other, Op) and other.name == "Div"
    if parent.name == "Div":
        return index == 0 and value == 1.0
    if parent.name == "Sub":
        return index == 1 and value == 1.0 and quotient
    return parent.name == "Add" and value == -1.0 and quotient


def _constants(
    node: Expr, path: tuple[int, ...] = ()
) -> Iterator[tuple[tuple[int, ...], Op, float]]:
    """(path of child indices, parent, value) for each constant operand in ``node`` that is not
    written by convention (``_written_convention``), depth first."""
    if not isinstance(node, Op):
        return
    for i, child in enumerate(node.children):
        if isinstance(child, Constant):
            if not _written_convention(node, i, child.value):
                yield (*path, i), node, child.value
        else:
            yield from _constants(child, (*path, i))


def _replaced(node: Expr, path: tuple[int, ...], new: Expr) -> Expr:
    """``node`` with the operand at ``path`` replaced by ``new``."""
    if not path:
        return new
    assert isinstance(node, Op)
    children = list(node.children)
    children[path[0]] = _replaced(children[path[0]], path[1:], new)
    return Op(node.spec, children, node.params)


def _transformed(values: np.ndarray, transform: str, universe: np.ndarray | None) -> np.ndarray:
    """Per-date z-score or z-scored rank, as the miner's pool transforms a factor."""
    kernel = {"zscore": cs_zscore_rows, "rank": cs_rank_zscore_rows}[transform]
    return kernel(values, None, universe)


def _mean_correlation(base: np.ndarray, other: np.ndarray) -> float:
    """Mean over dates of the correlation of two transformed factors (each row has mean 0 over
    its cells, 0 where missing); NaN when no date has both defined."""
    dot = np.einsum("ij,ij->i", base, other)
    norms = np.sqrt(np.einsum("ij,ij->i", base, base) * np.einsum("ij,ij->i", other, other))
    ok = norms > 0
    if not ok.any():
        return float("nan")
    return float(np.mean(dot[ok] / norms[ok]))


def idle_constants(
    expr: Expr | str,
    panel: Any,
    *,
    transform: str = "rank",
    universe: np.ndarray | None = None,
    values: np.ndarray | None = None,
    cache: EvalCache | None = None,
    threshold: float = IDLE_CORRELATION,
) -> list[IdleConstant]:
    """The constants of ``expr`` whose scaling by ``SCALE`` leaves its per-date ``transform``
    (``"zscore"`` or ``"rank"``; 0 outside ``universe`` when given, as the pool's transform
    sets it) correlated with the original at ``threshold`` or more on average over the dates;
    working guards against 0 are skipped.

    ``values`` is the formula's evaluation on ``panel`` when the caller already has it;
    ``cache`` shares unchanged sub-expressions between the probes."""
    if transform not in ("zscore", "rank"):
        raise ConfigError(f"transform must be 'zscore' or 'rank', got {transform!r}")
    node = parse(expr)
    guards = set(working_guards(node))
    probes = [item for item in _constants(node) if str(item[1]) not in guards]
    if not probes:
        return []
    memo = cache if cache is not None else EvalCache(max_bytes=256 << 20)
    if values is None:
        values = evaluate(node, panel, cache=memo)
    base = _transformed(values, transform, universe)
    found: list[IdleConstant] = []
    for path, parent, value in probes:
        if value == 0.0:  # scaling leaves a 0 as it is: the probe cannot tell
            continue
        try:
            variant = _replaced(node, path, Constant(value * SCALE))
        except FormulaError:  # the scaled constant is not allowed there: not idle by this probe
            continue
        other = _transformed(evaluate(variant, panel, cache=memo), transform, universe)
        correlation = _mean_correlation(base, other)
        if correlation >= threshold:
            found.append(IdleConstant(str(parent), float(value), correlation))
    return found
