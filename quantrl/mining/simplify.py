"""Simpler forms of accepted formulas: keep an operand instead of its operator when that serves.

A random or learned search writes a formula that passes the pool's tests with parts that add
nothing: ``Corr(Add(Mul(Mad($close,10),Cov(Div(30,$high),$close,20)),Mean($close,20)),
Std($volume,30),30)`` fits the training years no better than ``Corr(Mean($close,20),
Std($volume,30),30)``. When a candidate would be accepted, ``Simplifier``
tries its one-step deletions (an operator node replaced by one of its operands that is not a
constant), shortest first, each through every test of the pool as a candidate in the original's
place (``AlphaPool.try_add(..., commit=False)``). The first deletion the pool would accept whose
training objective is within ``tolerance`` of the original's gain (after >= after_original -
tolerance * gain_original) replaces it, and its own deletions are tried in turn; the pool adds the
last one kept. Only forms the token grammar of the searchers' vocabulary writes
(``GrammarState.admits``: units, depth) and that ``formula_refusal`` lets through are tried, so a
simplified member is one every searcher could have drawn. Every form tried counts as a trial of the pool (``AlphaPool.n_tried``), and the
choice reads the training split only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from quantrl.alpha.expr import Expr, replace_node
from quantrl.alpha.parser import to_rpn
from quantrl.errors import ConfigError, FormulaError
from quantrl.evaluation.formula_rules import formula_refusal
from quantrl.mining.pool import AddResult, AlphaPool
from quantrl.mining.tokens import GrammarState, Vocabulary

__all__ = ["Simplifier", "deletions"]


def deletions(expr: Expr) -> list[Expr]:
    """One-step deletions of ``expr``: each operator node replaced by one of its non-constant
    operands; distinct, shortest first (RPN tokens, then text)."""
    found: dict[str, Expr] = {}
    for index, node in enumerate(expr.walk()):
        for child in node.children:
            if not child.is_featured:
                continue
            try:
                simpler = replace_node(expr, index, child)
            except FormulaError:
                continue
            found.setdefault(str(simpler), simpler)
    found.pop(str(expr), None)
    return sorted(found.values(), key=lambda e: (len(to_rpn(e)), str(e)))


@dataclass
class Simplifier:
    """Replaces an acceptable candidate by its simplest deletion the pool accepts as well."""

    vocab: Vocabulary
    tolerance: float = 0.0
    reach: int = 1  # 2: when no one-step deletion serves, try those two deletions away
    n_simplified: int = 0  # candidates added in a simpler form
    n_tried: int = 0  # deletions offered to the pool
    _grammar: GrammarState | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.tolerance < 1.0:
            raise ConfigError(f"tolerance must lie in [0, 1), got {self.tolerance}")
        if self.reach not in (1, 2):
            raise ConfigError(f"reach must be 1 or 2 deletions, got {self.reach}")

    def candidates(self, expr: Expr) -> Iterator[Expr]:
        """``expr``'s deletions, shortest first; with ``reach=2`` then those two deletions away."""
        first = deletions(expr)
        yield from first
        if self.reach == 2:
            near = {str(e) for e in first}
            found = {str(d): d for e in first for d in deletions(e) if str(d) not in near}
            yield from sorted(found.values(), key=lambda e: (len(to_rpn(e)), str(e)))

    def writable(self, expr: Expr) -> bool:
        """Whether a searcher could offer ``expr``: the grammar writes it, no refusal rule holds."""
        if self._grammar is None:
            self._grammar = GrammarState(self.vocab)
        return formula_refusal(expr) is None and self._grammar.admits(expr)

    def add(self, pool: AlphaPool, expr: Expr, pending: AddResult) -> AddResult:
        """Add ``expr``, which ``pool.try_add(expr, commit=False)`` found acceptable, or its
        simplest acceptable deletion. The result keeps the original's gains (a searcher is paid
        for what it wrote) with the pool's objective after the change and, when a deletion was
        added, ``simplified`` naming it."""
        if pending.reason != "pending":
            raise ConfigError(f"{expr} is not pending in the pool ({pending.reason})")
        floor = pending.objective - self.tolerance * max(pending.gain, 0.0)
        kept = expr
        seen: set[str] = set()  # a form refused once is refused again: the pool is unchanged
        improved = True
        while improved:
            improved = False
            for simpler in self.candidates(kept):
                text = str(simpler)
                if text in seen or text in pool.formulas or not self.writable(simpler):
                    continue
                seen.add(text)
                self.n_tried += 1
                try:
                    result = pool.try_add(simpler, commit=False)
                except FormulaError:  # a form that cannot be evaluated is no simpler form
                    continue
                if result.reason == "pending" and result.objective >= floor:
                    kept, improved = simpler, True
                    break
        added = pool.commit(kept, offered=expr)
        if kept is expr:
            return added
        self.n_simplified += 1
        return replace(
            pending, accepted=True, reason="accepted", objective=added.objective,
            dropped=added.dropped, simplified=added.formula,
        )  # fmt: skip
