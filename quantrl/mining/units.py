"""The units-on rules of the miner's grammar: sound operator nodes and completion costs.

An RPN stack entry is described by its *abstract*: kind (market-data expression, constant or
window), name (``quantrl.evaluation.node_rules.rule_name`` where a node rule reads it: a bare
feature's field, a constant's magnitude class, a bounded or idempotent operator's name, or a
constant shift or factor; else None), unit (``quantrl.alpha.dimensions.Unit``), sign class
(``quantrl.alpha.dimensions.result_sign``), tree depth and, for a constant shift or multiple of
an expression, the field that expression is (``_core_field``). An operator is admissible on its
operands when ``quantrl.evaluation.node_rules.node_findings`` has nothing to say about the node
(units agree, a Log of a positive quantity, no identical operands that make it trivial, no
comparison that a constant or the signs decide, no raw level shifted by a constant, no redundant
Abs or constant, no window of 1) and the result is at most ``max_depth`` deep; the rule-based
judge scores exactly those findings, so a formula written under these rules has none but seven,
which the pool refuses unevaluated (``quantrl.evaluation.formula_rules.formula_refusal``): a factor
that cancels between products and quotients (``Div(Mul($close, $volume), $volume)``), as
abstracts do not list a product's factors (listing them multiplied the time a formula takes to
sample by 2.4), and a guard against 0 that nothing above it divides by or takes the log of
(``Mean(Add($volume, 1), 40)``), as RPN writes a node's parent after it, and a comparison or
Abs that exact constants and the ranges carried through the operators below it decide
(``Greater(2, Med(Corr($close, $volume, 20), 20))``), as abstracts keep only a constant's
magnitude class and an operator's name, and two constant shifts or multiples of one operator
expression (``Sub(Corr(x, y, 10), Mul(Corr(x, y, 10), 2))``), as abstracts follow only the
field a shift or multiple wraps, and a negative constant whose sign an operator above it
ignores (``Std(Mul($high, -1), 40)``), that a difference subtracts (``Sub($open, Div($close,
-5))``) or that negates the whole formula (``Div(Sub(Mul($high, -1), $low), $close)``), as
abstracts hold the sign of a node's values, not of a factor inside it. Node rules
read an operand through its abstract, with a stand-in text (``_stand_in``): a bare feature's
own, else a placeholder.

A formula may end on one market-data expression with a scale-free unit (ratio, count, bool)
that is not a constant shift or multiple of another (``Mul(Div($close, $open), -5)`` has the
per-date ranks of ``Div($close, $open)``, up to sign).
``finish`` gives the tokens of the cheapest completion in a fixed family, which every mask
consults so that no partial formula is ever a dead end:

* finish one entry: 0 if it may end; 1 with a unary operator (Log of a positive quantity); 2
  with a rolling operator, or a binary one against a fresh feature (``x $close Div``); 3 with a
  pair-rolling one against a fresh feature (``x $close 10 Corr``); else 2 more than finishing
  a binary node against a fresh feature (a multiple of a price, ``x = Mul($close, 2)``,
  finishes as ``Div(Sub(x, $high), $low)``; depth bounds the recursion);
* finish a stack of k + 1 entries: fold it top-down with Mul (k tokens, the product's unit and
  sign follow from the stack's running aggregates), then finish the product; or first combine
  the top two with any admissible binary (1 token) or pair-rolling (2 tokens) operator, then
  fold and finish the rest.

The first token of a completion in this family leads to a stack whose own family holds the rest
of the completion, so a formula that fits ``max_len`` tokens can always be finished. The family
is not every completion: a few completable prefixes are refused. Masks are memoised by a compact
key (the aggregate of the stack below its top entries, their abstracts, how the top two relate:
equal, one an extremum's operand inside the other, constant shifts or multiples of one
field, or neither; the top entry's operator where Ref, Max or Min on it would read it; the
pending window and the length). Costs further down, where only abstracts are known, refuse
what any possible relation would refuse, so a completion they count on is always admissible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from quantrl.alpha import dimensions as _dims
from quantrl.alpha import ops as _ops
from quantrl.evaluation.node_rules import (
    AFFINE_OPS,
    COMPOSING,
    EXTREMA,
    RULE_NAMES,
    SCALE,
    SHIFT,
    affine_core,
    constant_name,
    contains_operand,
    is_field_text,
    is_one,
    node_findings,
    operator_name,
)

__all__ = ["Entry", "UnitGrammar"]

F, C, W = 0, 1, 2  # entry kinds: market-data expression, constant, window

# How the top two entries of a stack relate, as far as a node rule reads it: unrelated texts,
# equal texts, the one below an extremum's operand inside the top one (``x`` and
# ``Max(x, 10)``), the top one inside the one below, or constant shifts or multiples of one
# field (``$high`` and ``Add($high, 1)``, ``affine_core``); UNKNOWN where only abstracts are known
# (completion costs), which refuses whatever a possible relation would refuse: per operator it
# settles to a tuple of the relations its abstracts allow.
UNRELATED, SAME, IN_TOP, IN_BELOW, UNKNOWN, AFFINE = 0, 1, 2, 3, 4, 5


def _rule_name(spec_name: str, abstracts: Sequence[tuple]) -> str | None:
    """The abstract's name of an operator node: its node-rule name when a rule reads it."""
    constants = [(a[1], a[3]) if a[0] == C else None for a in abstracts]
    name = operator_name(spec_name, constants, [a[1] or "" for a in abstracts])
    return name if name in RULE_NAMES else None


_ANY = "*"  # the core of an abstract's possible shift or multiple, when it may be any field


def _core_field(abstract: tuple) -> str | None:
    """The field an abstract's ``affine_core`` is when it is a bare feature, "" when it is an
    operator node, ``_ANY`` when it may be either (None for constants and windows)."""
    if abstract[0] != F:
        return None
    if abstract[5] is not None:
        return abstract[5]
    return abstract[1] if abstract[4] == 1 else ""


def _wraps(spec_name: str, name: str | None, abstracts: Sequence[tuple]) -> str | None:
    """``_core_field`` of the operand when an operator node is a constant shift or multiple of
    it that ``affine_core`` may strip (an Add, Sub, Mul or a Div by a literal with one literal
    operand, named SHIFT or SCALE: a return, ``Sub(Div(x, y), 1)``, is named Sub), else None."""
    kinds = [a[0] for a in abstracts]
    if spec_name not in ("Add", "Sub", "Mul", "Div") or name not in (SHIFT, SCALE):
        return None
    if len(kinds) != 2 or kinds.count(C) != 1 or W in kinds:
        return None
    if spec_name == "Div" and kinds[0] == C:
        return None
    return _core_field(abstracts[1] if kinds[0] == C else abstracts[0])


def _bare_field(abstract: tuple) -> bool:
    """Whether an abstract is a bare feature (its name is the field)."""
    return abstract[0] == F and abstract[4] == 1


def _may_share_core(below: tuple, top: tuple) -> bool:
    """Whether two market-data abstracts may be constant shifts or multiples of one field (one
    of them a shift or multiple, of one unit, with cores that may be the same field)."""
    if below[0] != F or top[0] != F or below[2] != top[2]:
        return False
    if below[5] is None and top[5] is None:
        return False
    a, b = _core_field(below), _core_field(top)
    if not a or not b:
        return False
    return a == b or _ANY in (a, b)


def _stand_in(abstract: tuple, i: int) -> str:
    """A text for operand ``i`` that node rules read as the abstract's: a bare feature's own,
    else a placeholder ``$x{i}``."""
    return f"${abstract[1]}" if _bare_field(abstract) else f"$x{i}"


_MEMO_LIMIT = 500_000

#: Rolling operators whose result unit reads the window (a sum of w log-levels is the log of a
#: w-fold product); node rules read a window only when it is 1.
WINDOW_UNITS = frozenset({"Sum", "WMA"})


def _window_class(name: str, window: int) -> int:
    """The windows of a rolling operator that the grammar's rules tell apart: each of
    ``WINDOW_UNITS``'s, else 1 against any other (0)."""
    return window if name in WINDOW_UNITS or window == 1 else 0


#: Aggregate of a stack prefix: (entries, Mul-product unit id, Mul-product sign, max(d_j + j),
#: how many entries are constants or SCALEs (capped at 2), whether an entry makes the Mul fold
#: refused: the constant 1 or a log-level).
Agg = tuple[int, int, str, int, int, bool]
EMPTY: Agg = (0, 0, _dims.POSITIVE, 0, 0, False)  # unit id 0 is CONST, an empty product's


class Entry(NamedTuple):
    """One RPN stack element: kind, name, canonical text and abstract id."""

    kind: int
    name: str
    text: str
    aid: int


class UnitGrammar:
    """Admissible tokens of the units-on grammar for one vocabulary (see the module docstring).

    ``vocab`` is a ``quantrl.mining.tokens.Vocabulary``; ``scale_free_end=False`` lets a
    formula end on any market-data expression (sub-formulas of the genetic program).
    """

    def __init__(self, vocab: Any, scale_free_end: bool = True) -> None:
        self.vocab = vocab
        self.scale_free_end = scale_free_end
        self.max_depth = int(vocab.max_depth)
        specs = vocab._specs
        self.n_ops = len(specs)
        self.plain = [(i, sp) for i, sp in enumerate(specs) if not sp.params]
        self.unary = [sp for _, sp in self.plain if sp.n_inputs == 1]
        self.binary = [sp for _, sp in self.plain if sp.n_inputs == 2]
        self.windowed = [(i, sp) for i, sp in enumerate(specs) if sp.params]
        self.rolling = [
            (sp, w) for _, sp in self.windowed if sp.n_inputs == 1 for w in vocab.windows
            if vocab.window_ok(sp, w)
        ]  # fmt: skip
        self.pair = [
            (sp, w) for _, sp in self.windowed if sp.n_inputs == 2 for w in vocab.windows
            if vocab.window_ok(sp, w)
        ]  # fmt: skip
        # one window per pair-rolling operator stands for all: the rules never read its value
        self.pair_reps = list({sp.name: (sp, w) for sp, w in reversed(self.pair)}.values())
        # likewise per rolling operator, apart from a window of 1 (a node rule refuses some) and
        # the windows of ``WINDOW_UNITS`` (their unit reads it): the completion costs only ask
        # whether some window finishes an entry
        self.rolling_reps = list(
            {
                (sp.name, _window_class(sp.name, w)): (sp, w) for sp, w in reversed(self.rolling)
            }.values()
        )
        self.mul = next((sp for sp in self.binary if sp.name == "Mul"), None)
        self.span = 1 + max((sp.n_inputs for sp in specs), default=1)
        self._units: list[_dims.Unit] = [_dims.CONST]
        self._uids: dict[_dims.Unit, int] = {_dims.CONST: 0}
        self._valid = {
            (i, w) for i, sp in self.windowed for w in vocab.windows if vocab.window_ok(sp, w)
        }
        groups: dict[tuple, list[int]] = {}  # windows that admit the same operators
        for j, w in enumerate(vocab.windows):
            groups.setdefault(tuple((i, w) in self._valid for i, _ in self.windowed), []).append(j)
        self._window_groups = [(vocab.windows[js[0]], np.asarray(js)) for js in groups.values()]
        self._finish: dict[tuple, float] = {}
        self._abs: list[tuple] = []
        self._ids: dict[tuple, int] = {}
        self._depths: list[int] = []  # per abstract id: its depth
        self._core_ids: list[int] = []  # per abstract id: the id of its kind, name, unit, sign
        self._cids: dict[tuple, int] = {}
        self._steps: dict[tuple, int | None] = {}
        self._cores: dict[tuple, tuple | None] = {}
        self._single: dict[int, float] = {}
        self._chain: dict[tuple, float] = {}
        self._umul: dict[tuple, int] = {}
        self._masks: dict[tuple, dict[int, np.ndarray]] = {}
        self._costs_memo: dict[tuple, np.ndarray] = {}
        self._combos: dict[tuple, list[tuple[float, int]]] = {}
        self._results_memo: dict[tuple, list[tuple[int, int, int]]] = {}
        self._leaf_memo: dict[tuple, np.ndarray] = {}
        self._const_memo: dict[tuple, np.ndarray] = {}
        self._affine: dict[str, str] = {}
        self.leaves = [self.leaf(f) for f in vocab.features]
        self.consts = [self._const(c) for c in vocab.constants]

    # ------------------------------------------------------------------ entries
    def _uid(self, unit: _dims.Unit) -> int:
        uid = self._uids.get(unit)
        if uid is None:
            uid = len(self._units)
            self._units.append(unit)
            self._uids[unit] = uid
        return uid

    def _aid(self, abstract: tuple) -> int:
        aid = self._ids.get(abstract)
        if aid is None:
            aid = len(self._abs)
            self._abs.append(abstract)
            self._ids[abstract] = aid
            self._depths.append(abstract[4])
            core = abstract[:4]
            cid = self._cids.get(core)
            if cid is None:
                cid = self._cids[core] = len(self._cids)
            self._core_ids.append(cid)
        return aid

    def leaf(self, field: str) -> Entry:
        """Entry of a bare feature."""
        a = (F, field, self._uid(_dims.field_unit(field)), _dims.field_sign(field), 1, None)
        return Entry(F, field, "$" + field, self._aid(a))

    def const(self, index: int) -> Entry:
        """Entry of the vocabulary's ``index``-th constant."""
        return self.consts[index]

    def _const(self, value: float) -> Entry:
        text = _ops.format_number(value)
        abstract = (C, constant_name(value), 0, _dims.constant_sign(value), 1, None)
        return Entry(C, text, text, self._aid(abstract))

    def window(self, w: int) -> Entry:
        """Entry of a pending window."""
        unknown = self._uid(_dims.UNKNOWN)
        return Entry(W, str(w), str(w), self._aid((W, None, unknown, _dims.SIGNED, 0, None)))

    def end_ok(self, aid: int) -> bool:
        """Whether a formula may end on an entry (by abstract id): a scale-free market-data
        expression whose outermost constant, if any, changes more than its scale or level."""
        kind, name, uid = self._abs[aid][:3]
        if kind != F:
            return False
        if not self.scale_free_end:
            return True
        return _dims.scale_free(self._units[uid]) and name not in (SHIFT, SCALE)

    def apply(
        self, spec: _ops.OpSpec, operands: Sequence[Entry], params: tuple = ()
    ) -> Entry | None:
        """The entry ``spec`` makes of ``operands``, or None when the grammar refuses it."""
        rel = self._pair_or_head(operands)
        aid = self.step(spec, params, tuple(e.aid for e in operands), rel)
        if aid is None:
            return None
        args = [e.text for e in operands] + [_ops.format_number(p) for p in params]
        return Entry(F, spec.name, f"{spec.name}({','.join(args)})", aid)

    def build(self, spec: _ops.OpSpec, operands: Sequence[Entry], params: tuple = ()) -> Entry:
        """The entry of an operator node, admissible or not (bookkeeping of forced actions)."""
        entry = self.apply(spec, operands, params)
        if entry is not None:
            return entry
        abstracts = [self._abs[e.aid] for e in operands]
        unit = spec.unit_rule([self._units[a[2]] for a in abstracts], params)
        same = len(operands) == 2 and self.relation(*operands) == SAME
        sign = _dims.result_sign(spec.name, [a[3] for a in abstracts], same=same)
        depth = 1 + max(a[4] for a in abstracts)
        name = _rule_name(spec.name, abstracts)
        args = [e.text for e in operands] + [_ops.format_number(p) for p in params]
        text = f"{spec.name}({','.join(args)})"
        wrapped = _wraps(spec.name, name, abstracts)
        return Entry(
            F, spec.name, text, self._aid((F, name, self._uid(unit), sign, depth, wrapped))
        )

    # ------------------------------------------------------------------ rules
    def relation(self, below: Entry, top: Entry) -> int:
        """How two entries relate (UNRELATED, SAME, AFFINE, IN_TOP or IN_BELOW), read from
        their texts."""
        if below.text == top.text:
            return SAME
        if below.kind == F and top.kind == F:
            core = self._core_of(below)
            if is_field_text(core) and core == self._core_of(top):
                return AFFINE
        if contains_operand(self._extremum(top), top.text, below.text):
            return IN_TOP
        if contains_operand(self._extremum(below), below.text, top.text):
            return IN_BELOW
        return UNRELATED

    def _pair_or_head(self, entries: Sequence[Entry]) -> Any:
        """``relation`` of the last two entries, or with one entry its head (``_head``)."""
        if len(entries) >= 2:
            return self.relation(entries[-2], entries[-1])
        return self._head(entries[-1])

    @staticmethod
    def _head(entry: Entry) -> Any:
        """The entry's operator when one of ``COMPOSING`` (read by the operator on top of it:
        ``Ref(Ref(x, 10), 20)`` is refused), else UNRELATED."""
        return entry.name if entry.kind == F and entry.name in COMPOSING else UNRELATED

    def _core_of(self, entry: Entry) -> str:
        """``affine_core`` of an entry's text (memoised)."""
        text = entry.text
        core = self._affine.get(text)
        if core is None:
            if len(self._affine) > _MEMO_LIMIT:
                self._affine.clear()
            core = self._affine[text] = affine_core(text)
        return core

    def _extremum(self, entry: Entry) -> str:
        """The entry's operator when its node-rule name is that of an extremum (Greater, Less,
        Max or Min with no constant shift or factor passing through), else ""."""
        if entry.kind == F and entry.name in EXTREMA and self._abs[entry.aid][1] is None:
            return entry.name
        return ""

    @staticmethod
    def _guess(below: int, top: int) -> int:
        """The relation of two entries known by abstract id only: equal abstracts may be equal
        expressions; different ones may hold each other (UNKNOWN)."""
        return SAME if below == top else UNKNOWN

    def step(self, spec: _ops.OpSpec, params: tuple, aids: tuple, rel: Any) -> int | None:
        """Abstract id of ``spec`` applied to entries ``aids`` (``rel``: how the last two
        relate), or None when the node is refused. Memoised."""
        rel = self._settle(spec.name, aids, rel)
        key = (spec.name, params, aids, rel)
        try:
            return self._steps[key]
        except KeyError:
            pass
        out = self._step(spec, params, aids, rel)
        if len(self._steps) > _MEMO_LIMIT:
            self._steps.clear()
        self._steps[key] = out
        return out

    def _settle(self, name: str, aids: tuple, rel: Any) -> Any:
        """``rel`` as far as it can matter to operator ``name`` on entries ``aids``; an UNKNOWN
        relation becomes the tuple of the relations the abstracts allow (UNRELATED first).

        With one operand ``rel`` is its head, which only ``COMPOSING`` operators read
        (``_settle_head``). Only Greater and Less read an extremum holding the other operand,
        which must be the deeper entry (abstracts do not name extrema: any deeper operator node
        without a rule name may be one); only ``AFFINE_OPS`` read two shifts or multiples of
        one field, of one unit, one of the two then a constant shift or multiple
        (``_may_share_core``)."""
        if len(aids) < 2:
            return self._settle_head(name, aids[0], rel) if name in COMPOSING else UNRELATED
        if rel == UNRELATED:
            return UNRELATED
        if rel == SAME:
            return SAME
        if rel == AFFINE:
            return AFFINE if name in AFFINE_OPS else UNRELATED
        if rel != UNKNOWN:
            return rel if name in EXTREMA else UNRELATED
        below, top = self._abs[aids[-2]], self._abs[aids[-1]]
        options = [UNRELATED]
        if name in EXTREMA:
            if top[4] > below[4] and top[0] == F and top[1] is None:
                options.append(IN_TOP)
            elif below[4] > top[4] and below[0] == F and below[1] is None:
                options.append(IN_BELOW)
        if name in AFFINE_OPS and _may_share_core(below, top):
            options.append(AFFINE)
        return UNRELATED if len(options) == 1 else tuple(options)

    def _settle_head(self, name: str, aid: int, head: Any) -> Any:
        """The head of the operand as far as operator ``name`` (one of ``COMPOSING``) reads it;
        an UNKNOWN head may be ``name`` for an operator node without a rule name or with a
        shift or factor passing through (``Ref(Add(x, 1), 5)`` is named SHIFT)."""
        if head == name:
            return name
        if head != UNKNOWN:
            return UNRELATED
        kind, rule, _, _, depth = self._abs[aid][:5]
        if kind == F and depth > 1 and rule in (None, SHIFT, SCALE):
            return (UNRELATED, name)
        return UNRELATED

    def _step(self, spec: _ops.OpSpec, params: tuple, aids: tuple, rel: Any) -> int | None:
        depths = self._depths
        depth = 1 + (depths[aids[0]] if len(aids) == 1 else max(depths[i] for i in aids))
        if depth > self.max_depth:
            return None
        ids = self._core_ids
        key = (spec.name, params, tuple(ids[i] for i in aids), rel)
        abstracts = [self._abs[i] for i in aids]
        try:
            core = self._cores[key]
        except KeyError:
            core = self._cores[key] = self._core(spec, params, abstracts, rel)
        if core is None:
            return None
        return self._aid((*core, depth, _wraps(spec.name, core[1], abstracts)))

    def _core(
        self, spec: _ops.OpSpec, params: tuple, abstracts: list[tuple], rel: Any
    ) -> tuple | None:
        """Kind, name, unit and sign of a node, or None when refused (depth aside)."""
        if isinstance(rel, tuple):  # refused if refused under any possible relation
            core = self._core(spec, params, abstracts, rel[0])
            if core is None or any(self._core(spec, params, abstracts, r) is None for r in rel[1:]):
                return None
            return core
        kinds = [a[0] for a in abstracts]
        if W in kinds or F not in kinds:
            return None
        if spec.category in ("unary", "rolling", "cross_section") and kinds[0] != F:
            return None
        if spec.category == "pair_rolling" and C in kinds:
            return None
        texts = [_stand_in(a, i) for i, a in enumerate(abstracts)]
        if isinstance(rel, str):  # the operand's head, one of COMPOSING
            texts[0] = f"{rel}($x0,1)"
        elif rel == SAME:
            texts[-1] = texts[-2]
        elif rel == AFFINE:  # a constant shift of the other (any shift or multiple reads alike)
            texts[-1] = f"Add({texts[-2]},1)"
        elif rel == IN_TOP:  # the operand an extremum takes comes first: Max(x, w), Greater(x, y)
            texts[-1] = f"f({texts[-2]},y)"
        elif rel == IN_BELOW:
            texts[-2] = f"f({texts[-1]},y)"
        units = [self._units[a[2]] for a in abstracts]
        kids = [(a[1] or "", u, a[3], t) for a, u, t in zip(abstracts, units, texts, strict=True)]
        if rel in (IN_TOP, IN_BELOW):  # the holder is an extremum (Max stands for all four)
            j = -1 if rel == IN_TOP else -2
            kids[j] = ("Max", *kids[j][1:])
        if node_findings(spec, kids, params):
            return None
        unit = spec.unit_rule(units, params)
        if spec.name == "Power":
            unit = _dims.UNKNOWN  # exponents are not tracked by the grammar
        sign = _dims.result_sign(spec.name, [a[3] for a in abstracts], same=rel == SAME)
        return (F, _rule_name(spec.name, abstracts), self._uid(unit), sign)

    def _unit_mul(self, a: int, b: int) -> int:
        key = (a, b)
        out = self._umul.get(key)
        if out is None:
            out = self._uid(_dims.mul_units(self._units[a], self._units[b]))
            self._umul[key] = out
        return out

    def extend(self, agg: Agg, entry: Entry) -> Agg:
        """Aggregate of a stack prefix with ``entry`` pushed on top."""
        return self._extend_aid(agg, entry.aid)

    # ------------------------------------------------------------------ costs
    def single(self, aid: int) -> float:
        """Fewest tokens that finish one entry alone."""
        cost = self._single.get(aid)
        if cost is None:
            cost = self._single_cost(aid)
            self._single[aid] = cost
        return cost

    def _single_cost(self, aid: int) -> float:
        if self._abs[aid][0] != F:
            return math.inf
        if self.end_ok(aid):
            return 0.0
        for spec in self.unary:
            r = self.step(spec, (), (aid,), UNKNOWN)
            if r is not None and self.end_ok(r):
                return 1.0
        for spec, w in self.rolling_reps:
            r = self.step(spec, (w,), (aid,), UNKNOWN)
            if r is not None and self.end_ok(r):
                return 2.0
        for leaf in self.leaves:
            for spec in self.binary:  # a bare feature equals the same feature only
                r = self.step(spec, (), (aid, leaf.aid), self._guess(aid, leaf.aid))
                if r is not None and self.end_ok(r):
                    return 2.0
        for leaf in self.leaves:
            for spec, w in self.pair_reps:
                r = self.step(spec, (w,), (aid, leaf.aid), self._guess(aid, leaf.aid))
                if r is not None and self.end_ok(r):
                    return 3.0
        best = math.inf  # a binary against a fresh feature, then finish that node alone:
        self._single[aid] = best  # Div(Sub(Mul($close, 2), $high), $low); depth bounds it
        for leaf in self.leaves:
            for spec in self.binary:
                r = self.step(spec, (), (aid, leaf.aid), self._guess(aid, leaf.aid))
                if r is not None:
                    best = min(best, 2.0 + self.single(r))
        return best

    def chain(self, agg: Agg, aid: int) -> float:
        """Fold ``agg``'s entries and entry ``aid`` (on top) with Mul, then finish."""
        k, _, _, m, _, _ = agg
        if k == 0:
            return self.single(aid)
        if self.mul is None:
            return math.inf
        key = (agg, aid)
        cost = self._chain.get(key)
        if cost is None:
            depth = max(m, self._abs[aid][4] + k)
            _, unit, sign, _, factors, refused = self._extend_aid(agg, aid)  # the whole product
            if depth > self.max_depth or refused or factors > 1:
                cost = math.inf  # Mul(x, 1), Mul(Log(x), y), two constant factors are refused
            else:
                wraps = _ANY if factors and k == 1 else None  # c * x of a field x, maybe
                prod = (F, SCALE if factors else None, unit, sign, depth, wraps)
                cost = k + self.single(self._aid(prod))
            if len(self._chain) > _MEMO_LIMIT:
                self._chain.clear()
            self._chain[key] = cost
        return cost

    def finish(self, agg: Agg, below: int | None, top: int | None, rel: int) -> float:
        """Completion cost of the stack ``agg``'s entries, then ``below``, then ``top``.

        ``below`` and ``top`` are abstract ids; ``below=None`` means ``top`` alone on the
        stack (``agg`` must then be ``EMPTY``) and ``top=None`` an empty stack. ``rel`` tells
        how ``below`` and ``top`` relate (``relation``, or UNKNOWN)."""
        if top is None:
            return 1.0 + min(self.single(e.aid) for e in self.leaves)
        if below is None:
            return self.chain(agg, top)
        key = (agg, below, top, rel)
        cost = self._finish.get(key)
        if cost is None:
            cost = self._finish_cost(agg, below, top, rel)
            if len(self._finish) > _MEMO_LIMIT:
                self._finish.clear()
            self._finish[key] = cost
        return cost

    def _finish_cost(self, agg: Agg, below: int, top: int, rel: int) -> float:
        best = math.inf  # fold the top two with Mul first, when Mul admits them
        if self.mul is not None and self.step(self.mul, (), (below, top), rel) is not None:
            best = self.chain(self._extend_aid(agg, below), top)
        for extra, r in self._combine(below, top, rel):
            best = min(best, extra + self.chain(agg, r))
        return best

    def _combine(self, below: int, top: int, rel: int) -> list[tuple[float, int]]:
        """(tokens, abstract id) of each admissible binary (1 token) or pair-rolling (2 tokens,
        one window standing for all) node on ``below`` and ``top``. Memoised."""
        key = (below, top, rel)
        out = self._combos.get(key)
        if out is None:
            out = []
            for spec in self.binary:
                r = self.step(spec, (), (below, top), rel)
                if r is not None:
                    out.append((1.0, r))
            for spec, w in self.pair_reps:
                r = self.step(spec, (w,), (below, top), rel)
                if r is not None:
                    out.append((2.0, r))
            if len(self._combos) > _MEMO_LIMIT:
                self._combos.clear()
            self._combos[key] = out
        return out

    def _extend_aid(self, agg: Agg, aid: int) -> Agg:
        k, unit, sign, m, factors, refused = agg
        kind, name, u, s, d, _ = self._abs[aid]
        product = _dims.result_sign("Mul", [sign, s])
        factors = min(2, factors + (kind == C or name == SCALE))
        refused = refused or self._is_one(aid) or self._units[u].kind == "log"
        return (k + 1, self._unit_mul(unit, u), product, max(m, d + k + 1), factors, refused)

    def _is_one(self, aid: int) -> bool:
        kind, name, _, sign = self._abs[aid][:4]
        return kind == C and is_one(name, sign)

    # ------------------------------------------------------------------ masks
    def mask(
        self,
        entries: Sequence[Entry],
        aggs: Sequence[Agg],
        window: int | None,
        length: int,
        layout: tuple[int, int, int, int],
    ) -> np.ndarray:
        """Admissible next tokens (read-only; memoised). ``entries`` excludes a pending window;
        ``layout`` is (first feature, first window, first constant, end) action ids."""
        s = len(entries)
        top = tuple(e.aid for e in entries[max(0, s - self.span) :])
        rel = self.relation(entries[-2], entries[-1]) if s >= 2 else UNRELATED
        head = self._head(entries[-1]) if s else UNRELATED
        key = (aggs[max(0, s - self.span)], top, rel, head, window)
        budget = self.vocab.max_len - length - 1  # tokens left after the next one
        masks = self._masks.get(key)
        if masks is None:
            if len(self._masks) > _MEMO_LIMIT:
                self._masks.clear()
            masks = self._masks[key] = {}
        m = masks.get(budget)
        if m is None:
            costs = self._costs_memo.get(key)
            if costs is None:
                costs = self._costs(entries, aggs, window, layout, rel, head)
                self._costs_memo[key] = costs
                if len(self._costs_memo) > _MEMO_LIMIT:
                    self._costs_memo.clear()
            m = costs <= budget
            m[layout[3]] = costs[layout[3]] == -math.inf  # the end token needs no budget
            m.setflags(write=False)
            masks[budget] = m
        return m

    def _costs(
        self,
        entries: Sequence[Entry],
        aggs: Sequence[Agg],
        window: int | None,
        layout: tuple[int, int, int, int],
        rel: int,
        head: Any,
    ) -> np.ndarray:
        """Per next token, the fewest tokens that finish the formula after it (inf: refused);
        the end token's entry is -inf when the formula may end here, inf otherwise. A token is
        admissible when its cost fits the tokens left, so one cost vector serves every length.
        ``rel`` and ``head`` are the mask key's: how the top two entries relate, the top's head."""
        inf = math.inf
        f0, w0, c0, end = layout
        m = np.full(end + 1, inf)
        s = len(entries)
        tops = tuple(e.aid for e in entries[max(0, s - self.span + 1) :])

        def after(k: int, r: int) -> float:  # completion once the top k entries become r
            rest = s - k
            if rest == 0:
                return self.single(r)
            below = entries[rest - 1].aid
            return self.finish(aggs[rest - 1], below, r, self._guess(below, r))

        if window is not None:  # a window must be consumed by the next operator
            for i, k, r in self._results(tops, rel, head, window):
                m[i] = after(k, r)
            return m
        for i, k, r in self._results(tops, rel, head, None):
            m[i] = after(k, r)
        if s == 0:
            for j, leaf in enumerate(self.leaves):
                m[f0 + j] = self.single(leaf.aid)
            return m
        top = entries[-1]
        m[f0:w0] = self._leaf_costs(aggs[s - 1], top.aid)
        if top.kind == F:
            for w, js in self._window_groups:  # windows that admit the same operators agree
                best = inf
                for _, k, r in self._results(tops, rel, head, w):
                    best = min(best, 1.0 + after(k, r))
                m[w0 + js] = best
            m[c0:end] = self._const_costs(aggs[s - 1], top.aid)
        m[end] = -inf if s == 1 and self.end_ok(entries[0].aid) else inf
        return m

    def _results(
        self, tops: tuple[int, ...], rel: int, head: Any, window: int | None
    ) -> list[tuple[int, int, int]]:
        """(action, operands, abstract id) of every operator admissible on the top entries
        ``tops`` (plain operators, or with ``window`` those taking it; ``rel`` relates the top
        two, ``head`` is the top one's ``_head``). Memoised."""
        key = (tops, rel, head, window)
        out = self._results_memo.get(key)
        if out is None:
            out = []
            if window is None:
                ops = self.plain
                params: tuple = ()
            else:
                ops = [(i, sp) for i, sp in self.windowed if (i, window) in self._valid]
                params = (window,)
            for i, spec in ops:
                k = spec.n_inputs
                if len(tops) < k:
                    continue
                r = self.step(spec, params, tops[len(tops) - k :], rel if k >= 2 else head)
                if r is not None:
                    out.append((i, k, r))
            if len(self._results_memo) > _MEMO_LIMIT:
                self._results_memo.clear()
            self._results_memo[key] = out
        return out

    def _leaf_costs(self, agg: Agg, top: int) -> np.ndarray:
        """Completion cost after pushing each feature on a stack ``agg`` + ``top``."""
        key = (agg, top)
        out = self._leaf_memo.get(key)
        if out is None:
            out = np.array(
                [self.finish(agg, top, e.aid, self._guess(top, e.aid)) for e in self.leaves]
            )
            if len(self._leaf_memo) > _MEMO_LIMIT:
                self._leaf_memo.clear()
            self._leaf_memo[key] = out
        return out

    def _const_costs(self, agg: Agg, top: int) -> np.ndarray:
        """Completion cost after pushing each constant on a stack ``agg`` + ``top``."""
        key = (agg, top)
        out = self._const_memo.get(key)
        if out is None:
            out = np.array(
                [self.finish(agg, top, e.aid, self._guess(top, e.aid)) for e in self.consts]
            )
            if len(self._const_memo) > _MEMO_LIMIT:
                self._const_memo.clear()
            self._const_memo[key] = out
        return out
