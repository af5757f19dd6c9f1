"""Gymnasium ids of the quantrl environments, registered when ``quantrl.envs`` is imported.

``max_episode_steps`` equals each environment's default ``episode_length``; when you pass a
longer ``episode_length`` to ``gymnasium.make``, pass ``max_episode_steps`` too.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from quantrl.errors import ConfigError

ENV_IDS: dict[str, tuple[str, int]] = {
    "quantrl/Portfolio-v0": ("quantrl.envs.portfolio:PortfolioEnv", 252),
    "quantrl/HFT-v0": ("quantrl.envs.hft:HFTEnv", 240),
    "quantrl/ESGPortfolio-v0": ("quantrl.envs.esg:ESGPortfolioEnv", 63),
    "quantrl/PairsTrading-v0": ("quantrl.envs.pairs:PairsTradingEnv", 252),
}
"""Environment id -> (entry point, max_episode_steps)."""


def register_envs() -> None:
    """Register every quantrl environment id with gymnasium (idempotent)."""
    for env_id, (entry_point, max_steps) in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=entry_point,
            max_episode_steps=max_steps,
            disable_env_checker=False,
        )


SHORT_NAMES = {
    "portfolio": "quantrl/Portfolio-v0",
    "hft": "quantrl/HFT-v0",
    "esg": "quantrl/ESGPortfolio-v0",
}
"""Short names accepted by ``make_env``."""


def make_env(name: str, **kwargs: Any) -> gym.Env:
    """``gymnasium.make`` for a quantrl id or short name (``"portfolio"``, ``"hft"``, ``"esg"``)."""
    register_envs()
    env_id = SHORT_NAMES.get(name, name)
    if env_id not in ENV_IDS:
        raise ConfigError(
            f"unknown environment {name!r}; choose from {', '.join([*SHORT_NAMES, *ENV_IDS])}"
        )
    return gym.make(env_id, **kwargs)
