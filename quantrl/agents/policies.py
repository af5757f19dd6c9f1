"""A trained agent as a strategy-like weights source: ``AgentStrategy(model, ...).target_weights``.

The policy is rolled deterministically through a Portfolio env built on the given panel (split
``"all"``, one episode over every row after the feature history); row t of the weights is the
risky target it chose at the close of row t. Rows before its first decision are NaN (no order:
the account stays in cash), so ``run_weights`` / ``compare`` reproduce the env's accounting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quantrl.agents.evaluate import rollout, trajectory_weights
from quantrl.agents.factory import canonical_env_id, env_class
from quantrl.data.panel import Panel
from quantrl.errors import ConfigError


class AgentStrategy:
    """Target weights (T, N) from a trained Portfolio-v0 / ESGPortfolio-v0 policy."""

    def __init__(
        self,
        model: Any,
        env_id: str = "quantrl/Portfolio-v0",
        env_kwargs: dict[str, Any] | None = None,
        name: str = "agent",
    ) -> None:

        self.model = model
        self.env_id = canonical_env_id(env_id)
        if self.env_id == "quantrl/HFT-v0":
            raise ConfigError("AgentStrategy needs a portfolio env (HFT-v0 trades one asset)")
        self.env_kwargs = {
            k: v
            for k, v in (env_kwargs or {}).items()
            if k not in ("split", "split_dates", "sampling", "episode_length", "seed", "symbols")
        }
        self.name = name

    def target_weights(self, panel: Panel) -> np.ndarray:
        """(T, N) risky target weights decided by the policy at each row (NaN before its first)."""

        env = env_class(self.env_id)(
            panel, split="all", episode_length=None, sampling="sequential", **self.env_kwargs
        )
        if env.observation_space.shape != self.model.observation_space.shape:
            raise ConfigError(
                f"the model expects observations of shape {self.model.observation_space.shape}, "
                f"a {panel.n_symbols}-asset panel gives {env.observation_space.shape}"
            )
        return trajectory_weights(rollout(self.model, env), panel.n_dates)


__all__ = ["AgentStrategy"]
