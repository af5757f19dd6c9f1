"""Token grammar of the formula miner: a vocabulary and the reverse-Polish validity masks.

A formula is written token by token in reverse Polish notation (AlphaGen's convention):

* feature tokens ``$close`` push a market-data operand;
* constant tokens ``-1``, ``0.5`` ... push a number; allowed only right after a market-data
  operand (so two numbers are never combined and no formula is a bare constant);
* window tokens ``10``, ``20`` ... push a window and must be followed at once by an operator that
  takes one (``$close 20 Mean``, ``$close $volume 10 Corr``, ``$close 5 Ref``);
* operator tokens pop their operands and push the result; unary and rolling operators need a
  market-data operand, binary ones at least one;
* the end token closes the formula; it is allowed only when exactly one market-data expression
  is on the stack.

The mask of each step admits a token only when the formula can still be completed within
``max_len`` tokens (the end token not counted), so every rollout that follows the masks ends in a
formula that parses (``parse_rpn``) and evaluates.

With ``units="on"`` (the default) the masks also keep formulas dimensionally sound
(``quantrl.mining.units``): operators combine only compatible units (a constant takes the unit
of its partner), Log applies only to positive quantities and Abs only to signed ones, no
operator gets identical operands that make it trivial, trees stay within ``max_depth`` levels,
and a formula ends only on a scale-free quantity (a ratio, correlation, log...). These are the
findings of the rule-based logic judge, so every masked formula scores 1.0 there. ``"off"``
keeps only the rules above.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quantrl.alpha import ops as _ops
from quantrl.alpha.expr import Expr
from quantrl.alpha.ops import ALPHAGEN_OPERATORS
from quantrl.alpha.parser import to_rpn
from quantrl.errors import ConfigError
from quantrl.mining.units import EMPTY, Agg, Entry, UnitGrammar

__all__ = [
    "DEFAULT_CONSTANTS",
    "DEFAULT_FEATURES",
    "DEFAULT_WINDOWS",
    "GrammarState",
    "Vocabulary",
]

DEFAULT_FEATURES: tuple[str, ...] = ("open", "high", "low", "close", "volume", "vwap")
DEFAULT_WINDOWS: tuple[int, ...] = (10, 20, 30, 40, 50)
DEFAULT_CONSTANTS: tuple[float, ...] = (
    -30.0, -10.0, -5.0, -2.0, -1.0, -0.5, -0.01, 0.01, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
)  # fmt: skip

F, C, W = 0, 1, 2  # stack element kinds: featured expression, constant, window

#: ``"on"``: dimensionally sound formulas (see ``GrammarState``); ``"off"``: any valid formula.
UNIT_MODES = ("on", "off")

_SUPPORTED = {"unary", "binary", "ternary", "rolling", "pair_rolling", "cross_section"}


@dataclass(frozen=True)
class Vocabulary:
    """The action space: operators, features, windows, constants and the end token."""

    operators: tuple[str, ...] = ALPHAGEN_OPERATORS
    features: tuple[str, ...] = ("open", "high", "low", "close", "volume")
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    constants: tuple[float, ...] = DEFAULT_CONSTANTS
    max_len: int = 20
    units: str = "on"
    max_depth: int = 6

    def __post_init__(self) -> None:
        specs = []
        for name in self.operators:
            spec = _ops.lookup(name)
            if spec is None:
                raise ConfigError(f"unknown operator {name!r} in the miner vocabulary")
            if spec.category not in _SUPPORTED:
                raise ConfigError(f"operator {spec.name} ({spec.category}) is not supported")
            if len(spec.params) > 1 or (spec.params and spec.category == "cross_section"):
                raise ConfigError(f"operator {spec.name} takes {spec.params}: not supported")
            specs.append(spec)
        if not self.features:
            raise ConfigError("the miner vocabulary needs at least one feature")
        if self.max_len < 1:
            raise ConfigError(f"max_len must be >= 1, got {self.max_len}")
        if self.units not in UNIT_MODES:
            raise ConfigError(f"units must be one of {UNIT_MODES}, got {self.units!r}")
        if isinstance(self.max_depth, bool) or not isinstance(self.max_depth, int):
            raise ConfigError(f"max_depth must be an integer, got {self.max_depth!r}")
        if self.max_depth < 2:
            raise ConfigError(f"max_depth must be >= 2, got {self.max_depth}")
        if any(int(w) != w or w < 1 for w in self.windows):
            raise ConfigError(f"windows must be positive integers, got {self.windows}")
        object.__setattr__(self, "operators", tuple(s.name for s in specs))
        object.__setattr__(self, "features", tuple(str(f).lstrip("$") for f in self.features))
        object.__setattr__(self, "windows", tuple(int(w) for w in self.windows))
        object.__setattr__(self, "constants", tuple(float(c) for c in self.constants))
        object.__setattr__(self, "_specs", tuple(specs))
        sizes = (len(self.operators), len(self.features), len(self.windows), len(self.constants))
        names = ("op", "feature", "window", "constant")
        kinds = [k for k, n in zip(names, sizes, strict=True) for _ in range(n)]
        object.__setattr__(self, "_kinds", (*kinds, "end"))
        texts = (
            *self.operators,
            *("$" + f for f in self.features),
            *(str(w) for w in self.windows),
            *(_ops.format_number(c) for c in self.constants),
            "SEP",
        )
        object.__setattr__(self, "_texts", texts)

    # ------------------------------------------------------------------ layout
    @property
    def tokens(self) -> list[str]:
        """Token texts in action order: operators, features, windows, constants, end."""
        return list(self._texts)  # type: ignore[attr-defined]

    @property
    def n_actions(self) -> int:
        """Number of tokens (the size of the Discrete action space)."""
        return (
            len(self.operators) + len(self.features) + len(self.windows) + len(self.constants) + 1
        )

    @property
    def end_action(self) -> int:
        """Action id of the end-of-formula token."""
        return self.n_actions - 1

    def kind_of(self, action: int) -> str:
        """``"op"``, ``"feature"``, ``"window"``, ``"constant"`` or ``"end"``."""
        a = int(action)
        if a < 0 or a >= self.n_actions:
            raise ConfigError(f"action {a} outside [0, {self.n_actions})")
        return self._kinds[a]  # type: ignore[attr-defined]

    def text(self, action: int) -> str:
        """Token text of an action id."""
        return self._texts[int(action)]  # type: ignore[attr-defined]

    def spec(self, action: int) -> _ops.OpSpec:
        """Operator spec of an operator action."""
        return self._specs[int(action)]  # type: ignore[attr-defined]

    def window_ok(self, spec: _ops.OpSpec, window: int) -> bool:
        """True when ``window`` is a valid first parameter of ``spec``."""
        if not spec.params:
            return False
        _, err = _ops.check_param(spec, spec.params[0], float(window))
        return err is None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready settings."""
        return {
            "operators": list(self.operators),
            "features": list(self.features),
            "windows": list(self.windows),
            "constants": list(self.constants),
            "max_len": self.max_len,
            "units": self.units,
            "max_depth": self.max_depth,
        }


@functools.lru_cache(maxsize=32)
def _unit_grammar(vocab: Vocabulary, scale_free_end: bool) -> UnitGrammar:
    return UnitGrammar(vocab, scale_free_end)


_KIND_ORDER = ("op", "feature", "window", "constant", "end")


class GrammarState:
    """Stack bookkeeping of a partial RPN formula and the mask of admissible next tokens.

    With ``vocab.units == "on"`` the stack tracks each expression's unit, sign class, depth and
    text, and an operator is offered only when it makes a sound node (see ``_UnitRules``); the
    end token only on a scale-free expression (``scale_free_end=False`` lifts that, for
    sub-formulas). With ``"off"`` only the kinds (market data, constant, window) are tracked.
    """

    def __init__(self, vocab: Vocabulary, *, scale_free_end: bool = True) -> None:
        self.vocab = vocab
        self._n_ops = len(vocab.operators)
        self._f0 = self._n_ops
        self._w0 = self._f0 + len(vocab.features)
        self._c0 = self._w0 + len(vocab.windows)
        specs = vocab._specs  # type: ignore[attr-defined]
        self._has_binary = any(s.n_inputs >= 2 and not s.params for s in specs)
        self._memo: dict[tuple[tuple[int, ...], int | None, int], np.ndarray] = {}
        self._choices: dict[bytes, tuple[np.ndarray, ...]] = {}
        self._units = _unit_grammar(vocab, scale_free_end) if vocab.units == "on" else None
        self._layout = (self._f0, self._w0, self._c0, vocab.end_action)
        self.reset()
        if not self.mask().any():
            raise ConfigError(
                f"no formula of at most max_len={vocab.max_len} tokens satisfies the grammar "
                f"(units {vocab.units!r}); raise max_len or add operators"
            )

    def reset(self) -> None:
        """Start an empty formula."""
        self.stack: list[int] = []
        self.entries: list[Entry] = []  # units on: the expressions below a pending window
        self.aggs: list[Agg] = [EMPTY]  # units on: aggregate of the first i entries
        self.window: int | None = None
        self.actions: list[int] = []
        self.done = False

    @property
    def length(self) -> int:
        """Formula tokens written so far (the end token excluded)."""
        return len(self.actions) - (1 if self.done else 0)

    def _min_finish(self, stack: Sequence[int]) -> float:
        """Fewest tokens that reduce ``stack`` to one market-data expression (units off)."""
        s = len(stack)
        if s == 0:
            return 1.0
        if s == 1:
            return 0.0 if stack[0] == F else (2.0 if self._has_binary else np.inf)
        if not self._has_binary:
            return np.inf
        if stack[-1] == C and stack[-2] == C:
            return float(s + 1)
        return float(s - 1)

    def _fits(self, extra: int, stack: Sequence[int]) -> bool:
        return self.length + extra + self._min_finish(stack) <= self.vocab.max_len

    def mask(self) -> np.ndarray:
        """Boolean (n_actions,) mask of the tokens that keep the formula completable."""
        if self.done:
            return np.zeros(self.vocab.n_actions, dtype=bool)
        if self._units is not None:
            return self._units.mask(
                self.entries, self.aggs, self.window, self.length, self._layout
            ).copy()
        key = (tuple(self.stack), self.window, self.length)
        m = self._memo.get(key)
        if m is None:
            m = self._compute_mask()
            m.setflags(write=False)
            self._memo[key] = m
        return m.copy()

    def kind_choices(self) -> tuple[np.ndarray, ...]:
        """Admissible actions grouped by token kind (operator, feature, window, constant, end,
        in that order), kinds without one left out; memoised by mask."""
        mask = self.mask()
        key = mask.tobytes()
        out = self._choices.get(key)
        if out is None:
            kinds = np.asarray([_KIND_ORDER.index(k) for k in self.vocab._kinds])  # type: ignore[attr-defined]
            out = tuple(np.flatnonzero(mask & (kinds == kind)) for kind in np.unique(kinds[mask]))
            if len(self._choices) > 100_000:
                self._choices.clear()
            self._choices[key] = out
        return out

    def _compute_mask(self) -> np.ndarray:
        v = self.vocab
        m = np.zeros(v.n_actions, dtype=bool)
        if self.done:
            return m
        st = self.stack
        s = len(st)
        if self.window is not None:  # a window must be consumed by the next operator
            base = st[:-1]
            for i, spec in enumerate(v._specs):  # type: ignore[attr-defined]
                if not spec.params or not v.window_ok(spec, self.window):
                    continue
                k = spec.n_inputs
                if len(base) < k or any(x != F for x in base[len(base) - k :]):
                    continue
                m[i] = self._fits(1, [*base[: len(base) - k], F])
            return m
        top_f = s >= 1 and st[-1] == F
        for i, spec in enumerate(v._specs):  # type: ignore[attr-defined]
            k = spec.n_inputs
            if spec.params or s < k:
                continue
            operands = st[s - k :]
            if spec.category in ("unary", "cross_section"):
                ok = operands[0] == F
            else:
                ok = any(x == F for x in operands)
            m[i] = ok and self._fits(1, [*st[: s - k], F])
        feat_ok = self._fits(1, [*st, F])
        m[self._f0 : self._w0] = feat_ok
        if top_f:
            for j, w in enumerate(v.windows):
                ok = False
                for spec in v._specs:  # type: ignore[attr-defined]
                    if not spec.params or not v.window_ok(spec, w):
                        continue
                    k = spec.n_inputs
                    if s >= k and all(x == F for x in st[s - k :]):
                        ok = ok or self._fits(2, [*st[: s - k], F])
                m[self._w0 + j] = ok
            m[self._c0 : v.end_action] = self._fits(1, [*st, C])
        m[v.end_action] = s == 1 and st[0] == F
        return m

    def push(self, action: int) -> None:
        """Apply an action (assumed admissible by ``mask``)."""
        v = self.vocab
        a = int(action)
        kind = v.kind_of(a)
        self.actions.append(a)
        if kind == "end":
            self.done = True
        elif kind == "feature":
            self.stack.append(F)
        elif kind == "constant":
            self.stack.append(C)
        elif kind == "window":
            self.stack.append(W)
            self.window = v.windows[a - self._w0]
        else:
            spec = v.spec(a)
            k = spec.n_inputs + (1 if spec.params else 0)
            del self.stack[len(self.stack) - k :]
            self.stack.append(F)
            if self._units is not None:
                params = () if self.window is None else (self.window,)
                n = spec.n_inputs
                entry = self._units.build(spec, self.entries[len(self.entries) - n :], params)
                del self.entries[len(self.entries) - n :]
                del self.aggs[len(self.aggs) - n :]
                self._push_entry(entry)
            self.window = None
            return
        if self._units is not None and kind in ("feature", "constant"):
            u = self._units
            if kind == "feature":
                self._push_entry(u.leaf(v.features[a - self._f0]))
            else:
                self._push_entry(u.const(a - self._c0))

    def _push_entry(self, entry: Entry) -> None:
        assert self._units is not None
        self.entries.append(entry)
        self.aggs.append(self._units.extend(self.aggs[-1], entry))

    def admits(self, expr: Expr) -> bool:
        """Whether the masks would let a rollout write ``expr`` (resets the state).

        A number right before an operator that takes a window is read as a window token,
        any other number as a constant token.
        """
        v = self.vocab
        texts = to_rpn(expr)
        ids = self._ids()
        self.reset()
        for i, text in enumerate(texts):
            windowed = i + 1 < len(texts) and texts[i + 1] in ids["windowed"]
            action = (ids["window"] if windowed else ids["other"]).get(text)
            if action is None or not self.mask()[action]:
                self.reset()
                return False
            self.push(action)
        ok = bool(self.mask()[v.end_action])
        self.reset()
        return ok

    def _ids(self) -> dict[str, dict[str, int] | set[str]]:
        ids = getattr(self, "_token_ids", None)
        if ids is None:
            v = self.vocab
            tokens = v.tokens
            other = {t: i for i, t in enumerate(tokens) if v.kind_of(i) not in ("window", "end")}
            window = {t: i for i, t in enumerate(tokens) if v.kind_of(i) == "window"}
            windowed = {v.operators[i] for i in range(len(v.operators)) if v.spec(i).params}
            ids = {"other": other, "window": window, "windowed": windowed}
            self._token_ids = ids
        return ids

    def rpn(self) -> list[str]:
        """RPN token texts written so far (without the end token)."""
        return [self.vocab.text(a) for a in self.actions if a != self.vocab.end_action]
