"""``quantrl/AlphaMiner-v0``: write a formula token by token; the reward is the pool's gain.

One episode writes one formula in reverse Polish notation (see ``quantrl.mining.tokens``
for the grammar). ``action_masks()`` returns the admissible tokens, as sb3-contrib's MaskablePPO
expects, and every masked rollout ends in a valid formula. Intermediate steps earn 0; the end
token offers the formula to the shared ``AlphaPool`` through a ``MiningTask`` and earns the gain of
the pool objective on the training split when the formula joins the pool, by default
cross-validated over blocks of training dates (see ``MiningTask``; 0 for an identical formula,
a near-duplicate, a degenerate one or one tried before), minus an optional frequent-subtree
penalty. A masked action (only possible
without masking) ends the episode with ``invalid_reward`` (default -1, as AlphaGen), or raises
``ConfigError`` with ``invalid_action="raise"``.

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

from quantrl.alpha.engine import EvalCache
from quantrl.alpha.expr import Expr, Op
from quantrl.alpha.parser import parse_rpn
from quantrl.data import load_market
from quantrl.data.splits import split_dates
from quantrl.errors import ConfigError, FormulaError
from quantrl.mining.pool import AddResult, AlphaPool
from quantrl.mining.tokens import GrammarState, Vocabulary

__all__ = ["REWARD_BASES", "AlphaMinerEnv", "MiningTask", "root_subtrees"]

REWARD_BASES = ("cv", "marginal", "net")


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
      over to dates the weights were not fitted on. Without blocks it is the marginal gain.
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
    """

    panel: Any
    label: np.ndarray
    pool: AlphaPool
    cache: EvalCache = field(default_factory=lambda: EvalCache(max_bytes=512 << 20))
    subtree_penalty: float = 0.0
    subtree_limit: int = 1
    valid_reward_weight: float = 0.5
    reward_basis: str = "cv"
    n_offered: int = 0
    n_errors: int = 0
    seconds: float = 0.0
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.reward_basis not in REWARD_BASES:
            raise ConfigError(
                f"reward_basis must be one of {REWARD_BASES}, got {self.reward_basis!r}"
            )
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

    def offer(self, expr: Expr | str) -> tuple[float, AddResult]:
        """Offer a formula to the pool -> (reward, result)."""
        start = time.perf_counter()
        self.n_offered += 1
        try:
            result = self.pool.try_add(expr)
        except FormulaError as exc:
            self.n_errors += 1
            result = AddResult(str(expr), False, 0.0, self.pool.objective, f"error: {exc}")
        self.seconds += time.perf_counter() - start
        if result.reason in (
            "duplicate",
            "near-duplicate",
            "degenerate",
        ) or result.reason.startswith("error"):
            return 0.0, result
        repeat = result.formula in self.seen
        self.seen.add(result.formula)
        if repeat and not result.accepted:  # a formula tried before earns nothing again
            return 0.0, result
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
        if isinstance(expr, str):
            return gain, result
        return gain - self.penalty(expr), result


def _default_task(panel: Any, label_horizon: int, capacity: int, vocab: Vocabulary) -> MiningTask:
    if panel is None:
        full = load_market("dow30")
        panel = full.split(*split_dates("dow30"))[0]
    label = panel.forward_returns(label_horizon)
    return MiningTask(panel, label, AlphaPool(capacity))


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
        return self.state.mask()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Append one token; the end token scores the formula against the pool."""
        a = int(action)
        mask = self.state.mask()
        if not 0 <= a < mask.size or not mask[a]:
            if self.invalid_action == "penalize":
                self.state.done = True
                info = {"formula": None, "accepted": False, "gain": 0.0, "reason": "masked action"}
                return self._obs(), self.invalid_reward, True, False, info
            raise ConfigError(
                f"action {a} ({self.vocab.text(a) if 0 <= a < mask.size else '?'}) is masked "
                f"after {self.state.rpn()}"
            )
        self.state.push(a)
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
            "pool_size": len(self.task.pool),
            "objective": self.task.pool.objective,
        }
        return self._obs(), float(reward), True, False, info

    def render(self) -> str | None:
        """Text of the formula so far (``render_mode="ansi"``)."""
        text = " ".join(self.state.rpn())
        return text if self.render_mode == "ansi" else None
