"""``quantrl/AlphaMiner-v0``: write a formula token by token; the reward is the pool's gain.

One episode writes one formula in reverse Polish notation (see ``quantrl.mining.tokens``
for the grammar). ``action_masks()`` returns the admissible tokens, as sb3-contrib's MaskablePPO
expects, and every masked rollout ends in a valid formula. Intermediate steps earn 0; the end
token offers the formula to the shared ``AlphaPool`` through a ``MiningTask`` and earns the gain of
the pool objective on the training split when the formula joins the pool, by default
cross-validated over blocks of training dates (see ``MiningTask``; 0 for an identical formula,
a near-duplicate, a degenerate, sparse or one-sided one, one with an idle constant, one the pool
refuses unevaluated or one tried before), minus an optional frequent-subtree penalty. The
default task adds an accepted formula in its simplest form the pool accepts as well
(``quantrl.mining.simplify``); ``info["simplified"]`` names it. A masked
action (only possible without masking) ends the episode with ``invalid_reward`` (default -1, as
AlphaGen), or raises ``ConfigError`` with ``invalid_action="raise"``.

The observation is the token sequence so far: a float32 vector of length ``max_len + 1`` holding
a begin marker (``n_actions + 1``), then ``action + 1`` per token, then 0 padding.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from quantrl.alpha.engine import EvalCache, evaluate
from quantrl.alpha.expr import Expr, Op
from quantrl.alpha.parser import parse, parse_rpn
from quantrl.data import load_market
from quantrl.data.splits import split_dates
from quantrl.errors import ConfigError, FormulaError
from quantrl.evaluation.alpha import pfs, rre
from quantrl.evaluation.formula_rules import REFUSAL_REASONS
from quantrl.mining.pool import AddResult, AlphaPool
from quantrl.mining.simplify import Simplifier
from quantrl.mining.tokens import GrammarState, Vocabulary

__all__ = ["REWARD_BASES", "AlphaMinerEnv", "MiningTask", "RewardWeights", "root_subtrees"]

REWARD_BASES = ("cv", "marginal", "net")

#: Verdicts remembered for repeats while the pool is unchanged (cleared when it changes).
MEMO_SIZE = 100_000


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the AlphaEval-aware reward blend (all >= 0, not all 0).

    A positive pool gain is paid times ``(gain + stability * RRE + robustness * max(PFS, 0)) /
    (gain + stability + robustness)``, RRE and PFS (``quantrl.evaluation.alpha.rre``, ``pfs``
    with seed 0) of the candidate's raw values on the training panel: a factor whose ranks churn
    from day to day, or that noise reorders, earns less of its gain. A gain <= 0 is paid as it
    is. The default (1, 0, 0) pays the gain alone and computes neither metric.
    """

    gain: float = 1.0
    stability: float = 0.0
    robustness: float = 0.0

    def __post_init__(self) -> None:
        values = {"gain": self.gain, "stability": self.stability, "robustness": self.robustness}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"reward weight {key} must be a number, got {value!r}")
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"reward weight {key} must be finite and >= 0, got {value}")
            object.__setattr__(self, key, float(value))
        if not sum(values.values()) > 0:
            raise ConfigError("reward weights must not all be 0")

    @property
    def blends(self) -> bool:
        """True when stability or robustness take part (the metrics must be computed)."""
        return self.stability > 0 or self.robustness > 0

    @classmethod
    def from_value(cls, value: RewardWeights | dict[str, float] | None) -> RewardWeights:
        """Weights from a mapping such as ``{"gain": 1, "stability": 0.5}`` (missing keys take
        their defaults; unknown keys are a ConfigError), an object with the three attributes,
        or None for the defaults."""
        if value is None:
            return cls()
        if isinstance(value, RewardWeights):
            return value
        if not isinstance(value, dict) and all(
            hasattr(value, k) for k in ("gain", "stability", "robustness")
        ):  # a settings object with the three fields
            value = {k: getattr(value, k) for k in ("gain", "stability", "robustness")}
        if not isinstance(value, dict):
            raise ConfigError(f"reward weights must be a table, got {type(value).__name__}")
        unknown = sorted(set(value) - {"gain", "stability", "robustness"})
        if unknown:
            raise ConfigError(
                f"unknown reward weight(s) {unknown} (known: gain, stability, robustness)"
            )
        return cls(**value)


def root_subtrees(expr: Expr) -> list[str]:
    """Canonical strings of the operator subtrees directly under the root (Alpha Jungle style)."""
    return [str(c) for c in expr.children if isinstance(c, Op)]


@dataclass
class MiningTask:
    """The shared harness: training panel and label, evaluation cache, pool and counters.

    ``offer(expr)`` evaluates a candidate with the shared ``EvalCache`` (sub-expressions are
    reused), offers it to the pool and returns the reward.

    Rewards (``reward_basis``):

    * ``"cv"`` (the default): the cross-validated marginal gain, when the pool has blocks
      (``AlphaPool(blocks=k)``, IC objective). For each block of training dates, the pool with
      and without the candidate is refitted on the other blocks and scored on that one; the
      reward is the mean of those out-of-block gains, so it favours contributions that carry
      over to dates the weights were not fitted on. The fit also leaves out the pool's
      ``purge`` rows on each side of the held-out block (``AlphaPool(purge=h)``; job specs and
      the default task use the label horizon), whose forward-return labels overlap the
      block's. Without blocks it is the marginal gain.
    * ``"marginal"``: the objective of the pool refitted with the candidate joined, before the
      weakest member is dropped, minus the objective before. Like ``"cv"``, it grades every
      evaluated candidate by the information it adds, accepted or not.
    * ``"net"``: the pool's gain after the drop. It is 0 or less for almost every candidate once
      the pool is full, so the 0 that near-duplicates and degenerate formulas earn beats nearly
      every real candidate, and the policy learns to write them.

    A formula offered before (``seen``, kept in checkpoints) earns 0 unless the pool now accepts
    it, so the policy cannot farm one formula's reward. With ``subtree_penalty > 0`` a
    candidate loses ``subtree_penalty * max(0, count - subtree_limit) / capacity``, where
    ``count`` is the number of pool members containing one of its root subtrees.

    When the pool gates acceptance on a validation split (``AlphaPool.bind_validation``), a
    candidate that passes the training test also has a validation gain, and the reward blends
    the two: ``(1 - valid_reward_weight) * train_gain + valid_reward_weight * valid_gain``, so
    formulas that only fit the training split are not rewarded. The test split is never used.
    With a block-stability test (``AlphaPool(blocks=...)``) and the ``"net"`` basis, the training
    gain is capped by the candidate's worst block gain. The other bases are not capped that way:
    the refit moves gains between blocks, so the worst block of a joined fit is below 0 for
    nearly every candidate; the block test still decides acceptance.

    ``reward_weights`` (``RewardWeights``) blends a positive gain with the candidate's
    stability (RRE) and robustness (PFS); by default the gain alone is paid. ``qualities``
    holds the blend's factor of every candidate it was applied to, so its spread can be seen.

    With a ``simplifier`` (``quantrl.mining.simplify.Simplifier``), a candidate the pool would
    accept is added in its simplest form the pool accepts as well; the result is the
    candidate's, and its ``simplified`` names the formula added in its place.

    A formula offered again while the pool is unchanged gets the verdict remembered from its
    last offer (``n_repeats`` counts them) instead of being evaluated again: the pool is
    deterministic, so the result is the same. ``timings()`` splits the CPU time of ``offer``
    into its stages.
    """

    panel: Any
    label: np.ndarray
    pool: AlphaPool
    cache: EvalCache = field(default_factory=lambda: EvalCache(max_bytes=128 << 20))
    subtree_penalty: float = 0.0
    subtree_limit: int = 1
    valid_reward_weight: float = 0.5
    reward_basis: str = "cv"
    n_offered: int = 0
    n_errors: int = 0
    n_repeats: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    alphaeval_seconds: float = 0.0
    qualities: list[float] = field(default_factory=list)
    reward_weights: RewardWeights = field(default_factory=RewardWeights)
    seen: set[str] = field(default_factory=set)
    simplifier: Simplifier | None = None
    _memo: dict[str, AddResult] = field(default_factory=dict, repr=False)
    _memo_version: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        if self.reward_basis not in REWARD_BASES:
            raise ConfigError(
                f"reward_basis must be one of {REWARD_BASES}, got {self.reward_basis!r}"
            )
        self.reward_weights = RewardWeights.from_value(self.reward_weights)  # type: ignore[arg-type]
        if self.pool._label is None:
            self.pool.bind(self.panel, self.label, self.cache)
        if not 0.0 <= self.valid_reward_weight <= 1.0:
            raise ConfigError(
                f"valid_reward_weight must lie in [0, 1], got {self.valid_reward_weight}"
            )

    def penalty(self, expr: Expr) -> float:
        """Frequent-subtree penalty of a candidate against the current pool."""
        if self.subtree_penalty <= 0 or not len(self.pool):
            return 0.0
        roots = set(root_subtrees(expr))
        if not roots:
            return 0.0
        count = 0
        for member in self.pool.exprs:
            nodes = {str(n) for n in member.walk()}
            if roots & nodes:
                count += 1
        excess = max(0, count - self.subtree_limit)
        return self.subtree_penalty * excess / self.pool.capacity

    def timings(self) -> dict[str, float]:
        """CPU seconds spent in ``offer`` by stage: the pool's ``evaluate``, ``transform``,
        ``neutralize`` and ``fit`` (``AlphaPool.timings``), and ``other`` (parsing, repeats,
        rewards), ``alphaeval`` (RRE and PFS for a blended reward), plus ``total``."""
        out = dict(self.pool.timings)
        out["alphaeval"] = self.alphaeval_seconds
        out["other"] = max(0.0, self.cpu_seconds - sum(out.values()))
        out["total"] = self.cpu_seconds
        return out

    def _result(self, expr: Expr | str) -> AddResult:
        """The pool's verdict on a formula; a repeat of one tried since the pool last changed
        gets the remembered verdict (the pool is deterministic), without evaluating it again."""
        pool = self.pool
        if pool.version != self._memo_version:
            self._memo.clear()
            self._memo_version = pool.version
        key = expr if isinstance(expr, str) else str(expr)
        hit = self._memo.get(key)
        if hit is not None:
            self.n_repeats += 1
            return hit
        try:
            simplifier = self.simplifier
            result = pool.try_add(expr, commit=simplifier is None)
            if simplifier is not None and result.reason == "pending":
                result = simplifier.add(pool, parse(expr), result)
        except FormulaError as exc:
            self.n_errors += 1
            result = AddResult(str(expr), False, 0.0, pool.objective, f"error: {exc}")
        if pool.version == self._memo_version and len(self._memo) < MEMO_SIZE:
            self._memo[key] = result
        return result

    def offer(self, expr: Expr | str) -> tuple[float, AddResult]:
        """Offer a formula to the pool -> (reward, result)."""
        start = time.perf_counter()
        cpu = time.process_time()
        self.n_offered += 1
        result = self._result(expr)
        reward = self._reward(expr, result)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.process_time() - cpu
        return reward, result

    def _reward(self, expr: Expr | str, result: AddResult) -> float:
        if result.reason in (
            "duplicate",
            "near-duplicate",
            "degenerate",
            "sparse",
            "one-sided",
            "idle constant",
            *REFUSAL_REASONS,
        ) or result.reason.startswith("error"):
            return 0.0
        repeat = result.formula in self.seen
        self.seen.add(result.formula)
        if repeat and not result.accepted:  # a formula tried before earns nothing again
            return 0.0
        if self.reward_basis == "net":
            gain = result.gain if math.isfinite(result.gain) else 0.0
            if math.isfinite(result.worst_block_gain):  # a gain that fails in part of the train
                gain = min(gain, result.worst_block_gain)
        elif self.reward_basis == "cv" and math.isfinite(result.marginal_cv_gain):
            gain = result.marginal_cv_gain
        else:  # "marginal", or "cv" where the pool cannot cross-validate
            gain = result.marginal_gain
        if math.isfinite(result.valid_gain):
            a = self.valid_reward_weight
            gain = (1.0 - a) * gain + a * result.valid_gain
        if gain > 0 and self.reward_weights.blends:
            gain *= self._quality(result.formula)
        if isinstance(expr, str):
            return gain
        return gain - self.penalty(expr)

    def _quality(self, formula: str) -> float:
        """Weighted mean of 1 (gain), RRE and max(PFS, 0) of a candidate on the training panel."""
        start = time.process_time()
        w = self.reward_weights
        values = evaluate(formula, self.panel, cache=self.cache)
        total = w.gain
        if w.stability > 0:
            rre_value = rre(values)
            total += w.stability * (rre_value if math.isfinite(rre_value) else 0.0)
        if w.robustness > 0:
            pfs_value = pfs(values, seed=0).mean
            total += w.robustness * (max(pfs_value, 0.0) if math.isfinite(pfs_value) else 0.0)
        self.alphaeval_seconds += time.process_time() - start
        quality = total / (w.gain + w.stability + w.robustness)
        self.qualities.append(quality)
        return quality


def _default_task(panel: Any, label_horizon: int, capacity: int, vocab: Vocabulary) -> MiningTask:
    if panel is None:
        full = load_market("dow30")
        panel = full.split(*split_dates("dow30"))[0]
    label = panel.forward_returns(label_horizon)
    pool = AlphaPool(capacity, purge=label_horizon)
    return MiningTask(panel, label, pool, simplifier=Simplifier(vocab))


class AlphaMinerEnv(gym.Env):
    """Token-by-token formula writing with action masks; reward = gain of the alpha pool."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        task: MiningTask | None = None,
        *,
        panel: Any = None,
        vocab: Vocabulary | None = None,
        label_horizon: int = 20,
        pool_capacity: int = 10,
        invalid_action: str = "penalize",
        invalid_reward: float = -1.0,
        render_mode: str | None = None,
    ) -> None:
        if invalid_action not in ("penalize", "raise"):
            raise ConfigError(
                f"invalid_action must be 'penalize' or 'raise', got {invalid_action!r}"
            )
        self.invalid_action = invalid_action
        self.invalid_reward = float(invalid_reward)
        self.vocab = vocab if vocab is not None else Vocabulary()
        if task is None:
            task = _default_task(panel, label_horizon, pool_capacity, self.vocab)
        fields = set(task.panel.field_names)
        missing = [f for f in self.vocab.features if f not in fields]
        if missing:
            raise ConfigError(
                f"miner features {missing} are not panel fields (has {sorted(fields)})"
            )
        self.task = task
        self.render_mode = render_mode
        self.state = GrammarState(self.vocab)
        n = self.vocab.n_actions
        self.action_space = gym.spaces.Discrete(n)
        self.observation_space = gym.spaces.Box(
            low=0.0, high=float(n + 1), shape=(self.vocab.max_len + 1,), dtype=np.float32
        )
        self.last_formula: str | None = None
        self.last_result: AddResult | None = None
        self.grammar_seconds = 0.0  # CPU time spent on masks and token bookkeeping

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.vocab.max_len + 1, dtype=np.float32)
        obs[0] = self.vocab.n_actions + 1
        acts = [a for a in self.state.actions if a != self.vocab.end_action]
        if acts:
            obs[1 : 1 + len(acts)] = np.asarray(acts, dtype=np.float32) + 1.0
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new formula (the pool persists across episodes)."""
        super().reset(seed=seed)
        self.state.reset()
        return self._obs(), {}

    def action_masks(self) -> np.ndarray:
        """Admissible actions (bool, n_actions) for MaskablePPO."""
        start = time.process_time()
        mask = self.state.mask()
        self.grammar_seconds += time.process_time() - start
        return mask

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Append one token; the end token scores the formula against the pool."""
        a = int(action)
        start = time.process_time()
        mask = self.state.mask()
        self.grammar_seconds += time.process_time() - start
        if not 0 <= a < mask.size or not mask[a]:
            if self.invalid_action == "penalize":
                self.state.done = True
                info = {"formula": None, "accepted": False, "gain": 0.0, "reason": "masked action"}
                return self._obs(), self.invalid_reward, True, False, info
            raise ConfigError(
                f"action {a} ({self.vocab.text(a) if 0 <= a < mask.size else '?'}) is masked "
                f"after {self.state.rpn()}"
            )
        start = time.process_time()
        self.state.push(a)
        self.grammar_seconds += time.process_time() - start
        if not self.state.done:
            return self._obs(), 0.0, False, False, {}
        expr = parse_rpn(self.state.rpn())
        reward, result = self.task.offer(expr)
        self.last_formula = str(expr)
        self.last_result = result
        info = {
            "formula": str(expr),
            "accepted": result.accepted,
            "gain": result.gain,
            "reason": result.reason,
            "simplified": result.simplified,
            "pool_size": len(self.task.pool),
            "objective": self.task.pool.objective,
        }
        return self._obs(), float(reward), True, False, info

    def render(self) -> str | None:
        """Text of the formula so far (``render_mode="ansi"``)."""
        text = " ".join(self.state.rpn())
        return text if self.render_mode == "ansi" else None
