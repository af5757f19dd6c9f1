"""Gymnasium trading environments on one base (``TradingEnv``): Portfolio-v0, ESGPortfolio-v0,
HFT-v0, PairsTrading-v0, and a batched vector env.

Importing this package registers the ``quantrl/...`` ids with gymnasium (``AlphaMiner-v0``
included, by its entry point).
"""

from __future__ import annotations

from quantrl.envs import vector
from quantrl.envs.base import TradingEnv
from quantrl.envs.config import (
    ActionConfig,
    Costs,
    ESGConfig,
    ImpactConfig,
    LevelConfig,
    ObservationConfig,
    SpreadConfig,
)
from quantrl.envs.core import Account
from quantrl.envs.esg import ESGPortfolioEnv
from quantrl.envs.hft import HFTEnv
from quantrl.envs.pairs import PairsTradingEnv
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.envs.registration import ENV_IDS, MINER_ID, make_env, register_envs
from quantrl.envs.rewards import REWARDS, RewardConfig, make_reward

register_envs()

_LAZY = {"PortfolioVectorEnv", "SB3VecEnv", "make_sb3_vec_env"}


def __getattr__(name: str) -> object:
    """Import the vector env (and stable-baselines3) only when it is asked for."""
    if name in _LAZY:
        return getattr(vector, name)
    raise AttributeError(f"module 'quantrl.envs' has no attribute {name!r}")


__all__ = [
    "ENV_IDS",
    "MINER_ID",
    "REWARDS",
    "Account",
    "ActionConfig",
    "Costs",
    "ESGConfig",
    "ESGPortfolioEnv",
    "HFTEnv",
    "ImpactConfig",
    "LevelConfig",
    "ObservationConfig",
    "PairsTradingEnv",
    "PortfolioEnv",
    "PortfolioVectorEnv",
    "RewardConfig",
    "SB3VecEnv",
    "SpreadConfig",
    "TradingEnv",
    "make_env",
    "make_reward",
    "make_sb3_vec_env",
    "register_envs",
]
