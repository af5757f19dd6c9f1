"""Gymnasium ids of the quantrl environments, registered when ``quantrl.envs`` is imported.

The trading environments truncate their episodes themselves after ``episode_length`` steps
(``None``: the whole split), so they are registered without a ``TimeLimit``
(``max_episode_steps=None``): ``gymnasium.make(id, episode_length=None)`` runs the whole split.
Passing ``max_episode_steps`` to ``gymnasium.make`` still adds gymnasium's limit on top.
``quantrl/AlphaMiner-v0`` (the formula miner, whose episodes end with their end token) is
registered here too, by a string entry point, so that it resolves as soon as either
``quantrl.envs`` or ``quantrl.mining`` is imported.
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
"""Trading environment id -> (entry point, default ``episode_length``)."""

MINER_ID = "quantrl/AlphaMiner-v0"
MINER_ENTRY_POINT = "quantrl.mining.env:AlphaMinerEnv"


def register_envs() -> None:
    """Register every quantrl environment id with gymnasium (idempotent)."""
    entries = {env_id: entry for env_id, (entry, _) in ENV_IDS.items()}
    entries[MINER_ID] = MINER_ENTRY_POINT
    for env_id, entry_point in entries.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=entry_point,
            max_episode_steps=None,
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
