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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quantrl.alpha import ops as _ops
from quantrl.alpha.ops import ALPHAGEN_OPERATORS
from quantrl.errors import ConfigError

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

_SUPPORTED = {"unary", "binary", "ternary", "rolling", "pair_rolling", "cross_section"}


@dataclass(frozen=True)
class Vocabulary:
    """The action space: operators, features, windows, constants and the end token."""

    operators: tuple[str, ...] = ALPHAGEN_OPERATORS
    features: tuple[str, ...] = ("open", "high", "low", "close", "volume")
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    constants: tuple[float, ...] = DEFAULT_CONSTANTS
    max_len: int = 20

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
        if any(int(w) != w or w < 1 for w in self.windows):
            raise ConfigError(f"windows must be positive integers, got {self.windows}")
        object.__setattr__(self, "operators", tuple(s.name for s in specs))
        object.__setattr__(self, "features", tuple(str(f).lstrip("$") for f in self.features))
        object.__setattr__(self, "windows", tuple(int(w) for w in self.windows))
        object.__setattr__(self, "constants", tuple(float(c) for c in self.constants))
        object.__setattr__(self, "_specs", tuple(specs))

    # ------------------------------------------------------------------ layout
    @property
    def tokens(self) -> list[str]:
        """Token texts in action order: operators, features, windows, constants, end."""
        return (
            list(self.operators)
            + ["$" + f for f in self.features]
            + [str(w) for w in self.windows]
            + [_ops.format_number(c) for c in self.constants]
            + ["SEP"]
        )

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
        bounds = np.cumsum(
            [len(self.operators), len(self.features), len(self.windows), len(self.constants)]
        )
        if a < 0 or a >= self.n_actions:
            raise ConfigError(f"action {a} outside [0, {self.n_actions})")
        for kind, hi in zip(("op", "feature", "window", "constant"), bounds, strict=True):
            if a < hi:
                return kind
        return "end"

    def text(self, action: int) -> str:
        """Token text of an action id."""
        return self.tokens[int(action)]

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
        }


class GrammarState:
    """Stack bookkeeping of a partial RPN formula and the mask of admissible next tokens."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self._n_ops = len(vocab.operators)
        self._f0 = self._n_ops
        self._w0 = self._f0 + len(vocab.features)
        self._c0 = self._w0 + len(vocab.windows)
        specs = vocab._specs  # type: ignore[attr-defined]
        self._has_binary = any(s.n_inputs >= 2 and not s.params for s in specs)
        self._memo: dict[tuple[tuple[int, ...], int | None, int], np.ndarray] = {}
        self.reset()

    def reset(self) -> None:
        """Start an empty formula."""
        self.stack: list[int] = []
        self.window: int | None = None
        self.actions: list[int] = []
        self.done = False

    @property
    def length(self) -> int:
        """Formula tokens written so far (the end token excluded)."""
        return len(self.actions) - (1 if self.done else 0)

    def _min_finish(self, stack: Sequence[int]) -> float:
        """Fewest tokens that reduce ``stack`` to one market-data expression."""
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
        key = (tuple(self.stack), self.window, self.length)
        m = self._memo.get(key)
        if m is None:
            m = self._compute_mask()
            m.setflags(write=False)
            self._memo[key] = m
        return m.copy()

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
            self.window = None

    def rpn(self) -> list[str]:
        """RPN token texts written so far (without the end token)."""
        return [self.vocab.text(a) for a in self.actions if a != self.vocab.end_action]
