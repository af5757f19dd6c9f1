"""How one-sided a formula's comparisons are on a panel: the share of cells where each comparison
takes its most common outcome.

A comparison that takes one outcome on nearly every cell is that outcome in disguise:
``Greater(Mul(Max(Med($close, 40), 50), 30), $high)`` is 30 times a median close on every cell of
the S&P 500 training years, and ``Less(Log($low), Log(WMA($low, 20)))`` always the WMA side (Qlib's
WMA divides by the window). No rule on the formula's text decides these, as the operands' ranges
overlap; their values do. The miner's pool refuses a formula with such a comparison on the
training split (``AlphaPool(one_sided=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quantrl.alpha.engine import EvalCache, evaluate
from quantrl.alpha.expr import Constant, Expr
from quantrl.alpha.parser import parse
from quantrl.kernels.comparisons import comparison_counts_nb, threshold_counts_nb

__all__ = ["COMPARISONS", "ONE_SIDED", "ComparisonShare", "comparison_shares", "one_sided_notes"]

#: Each comparison's two outcomes as the cells counted in each, from (greater, less, equal) of
#: its first operand against its second: Greater and Less take an operand's value (ties give
#: the same value, so they count for both), Gt .. Ne are 1 or 0.
_OUTCOMES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "Greater": (("first operand", "ge"), ("second operand", "le")),
    "Less": (("first operand", "le"), ("second operand", "ge")),
    "Gt": (("1", "gt"), ("0", "le")),
    "Ge": (("1", "ge"), ("0", "lt")),
    "Lt": (("1", "lt"), ("0", "ge")),
    "Le": (("1", "le"), ("0", "gt")),
    "Eq": (("1", "eq"), ("0", "ne")),
    "Ne": (("1", "ne"), ("0", "eq")),
}
#: The comparisons ``comparison_shares`` measures.
COMPARISONS = frozenset(_OUTCOMES)
#: The share of its cells on which a comparison taking one outcome is called one-sided: at
#: most one cell in a thousand switches (the miner's pool's default).
ONE_SIDED = 0.999


@dataclass(frozen=True)
class ComparisonShare:
    """One comparison of a formula and how one-sided it is on a panel."""

    text: str  # the comparison's canonical text
    share: float  # share of ``cells`` where it takes ``outcome`` (NaN without cells)
    outcome: str  # its most common outcome: "first operand", "second operand", "1" or "0"
    cells: int  # cells where both operands are finite


def _counts(node: Expr, panel: Any, cache: EvalCache, first_row: int) -> dict[str, int]:
    first, second = node.children

    def values(operand: Expr) -> Any:
        return evaluate(operand, panel, cache=cache)[first_row:]

    if isinstance(second, Constant):
        gt, lt, eq = threshold_counts_nb(values(first), second.value)
    elif isinstance(first, Constant):
        lt, gt, eq = threshold_counts_nb(values(second), first.value)
    else:
        gt, lt, eq = comparison_counts_nb(values(first), values(second))
    return {
        "gt": gt, "lt": lt, "eq": eq, "ge": gt + eq, "le": lt + eq, "ne": gt + lt,
    }  # fmt: skip


def comparison_shares(
    expr: Expr | str, panel: Any, *, cache: EvalCache | None = None, first_row: int = 0
) -> list[ComparisonShare]:
    """Each distinct comparison in ``expr`` (Greater, Less, Gt .. Ne) with the share of the
    panel's cells from row ``first_row`` on (the rows before are history), where both its
    operands are finite, on which it takes its most common outcome: 1.0 when it never switches
    there, 0.5 at best. ``cache`` shares the evaluated operands with the formula's own
    evaluation."""
    node = parse(expr)
    memo = cache if cache is not None else EvalCache(max_bytes=256 << 20)
    out: list[ComparisonShare] = []
    seen: set[str] = set()
    for sub in node.walk():
        text = str(sub)
        if sub.kind != "op" or sub.name not in _OUTCOMES or text in seen:
            continue
        seen.add(text)
        counts = _counts(sub, panel, memo, first_row)
        cells = counts["gt"] + counts["lt"] + counts["eq"]
        (name_a, key_a), (name_b, key_b) = _OUTCOMES[sub.name]
        outcome, count = max((name_a, counts[key_a]), (name_b, counts[key_b]), key=lambda p: p[1])
        share = count / cells if cells else float("nan")
        out.append(ComparisonShare(text, share, outcome, cells))
    return out


def one_sided_notes(
    formulas: Any, panel: Any, *, first_row: int = 0, share: float = ONE_SIDED
) -> list[str]:
    """A note for each comparison in ``formulas`` that takes one outcome on at least ``share``
    of the panel's cells from ``first_row`` on, naming the formula, the comparison and the
    outcome it always takes."""
    notes = []
    for formula in formulas:
        expr = parse(formula)
        for item in comparison_shares(expr, panel, first_row=first_row):
            if item.share >= share:
                what = f"its {item.outcome}" if "operand" in item.outcome else item.outcome
                notes.append(
                    f"{expr}: {item.text} is {what} on {item.share:.1%} of the {item.cells} "
                    "cells where it is defined, an operand or constant in disguise (the miner's "
                    "pool refuses such formulas)"
                )
    return notes
