"""Gymnasium trading environments: Portfolio-v0, HFT-v0, ESGPortfolio-v0 and a batched vector env.

Importing this package registers the ``quantrl/...`` ids with gymnasium.
"""

from __future__ import annotations

from quantrl.envs import vector
from quantrl.envs.core import Account, Costs
from quantrl.envs.esg import ESGPortfolioEnv
from quantrl.envs.hft import HFTEnv
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.envs.registration import ENV_IDS, make_env, register_envs
from quantrl.envs.rewards import REWARDS, make_reward

register_envs()

_LAZY = {"PortfolioVectorEnv", "SB3VecEnv", "make_sb3_vec_env"}


def __getattr__(name: str) -> object:
    """Import the vector env (and stable-baselines3) only when it is asked for."""
    if name in _LAZY:
        return getattr(vector, name)
    raise AttributeError(f"module 'quantrl.envs' has no attribute {name!r}")


__all__ = [
    "ENV_IDS",
    "REWARDS",
    "Account",
    "Costs",
    "ESGPortfolioEnv",
    "HFTEnv",
    "PortfolioEnv",
    "PortfolioVectorEnv",
    "SB3VecEnv",
    "make_sb3_vec_env",
    "make_env",
    "make_reward",
    "register_envs",
]
