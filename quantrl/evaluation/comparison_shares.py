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

__all__ = ["COMPARISONS", "ComparisonShare", "comparison_shares"]

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


@dataclass(frozen=True)
class ComparisonShare:
    """One comparison of a formula and how one-sided it is on a panel."""

    text: str  # the comparison's canonical text
    share: float  # share of ``cells`` where it takes ``outcome`` (NaN without cells)
    outcome: str  # its most common outcome: "first operand", "second operand", "1" or "0"
    cells: int  # cells where both operands are finite


def _counts(node: Expr, panel: Any, cache: EvalCache) -> dict[str, int]:
    first, second = node.children
    if isinstance(second, Constant):
        gt, lt, eq = threshold_counts_nb(evaluate(first, panel, cache=cache), second.value)
    elif isinstance(first, Constant):
        lt, gt, eq = threshold_counts_nb(evaluate(second, panel, cache=cache), first.value)
    else:
        a = evaluate(first, panel, cache=cache)
        gt, lt, eq = comparison_counts_nb(a, evaluate(second, panel, cache=cache))
    return {
        "gt": gt, "lt": lt, "eq": eq, "ge": gt + eq, "le": lt + eq, "ne": gt + lt,
    }  # fmt: skip


def comparison_shares(
    expr: Expr | str, panel: Any, *, cache: EvalCache | None = None
) -> list[ComparisonShare]:
    """Each distinct comparison in ``expr`` (Greater, Less, Gt .. Ne) with the share of the
    panel's cells, where both its operands are finite, on which it takes its most common
    outcome: 1.0 when it never switches there, 0.5 at best. ``cache`` shares the evaluated
    operands with the formula's own evaluation."""
    node = parse(expr)
    memo = cache if cache is not None else EvalCache(max_bytes=256 << 20)
    out: list[ComparisonShare] = []
    seen: set[str] = set()
    for sub in node.walk():
        text = str(sub)
        if sub.kind != "op" or sub.name not in _OUTCOMES or text in seen:
            continue
        seen.add(text)
        counts = _counts(sub, panel, memo)
        cells = counts["gt"] + counts["lt"] + counts["eq"]
        (name_a, key_a), (name_b, key_b) = _OUTCOMES[sub.name]
        outcome, count = max((name_a, counts[key_a]), (name_b, counts[key_b]), key=lambda p: p[1])
        share = count / cells if cells else float("nan")
        out.append(ComparisonShare(text, share, outcome, cells))
    return out
