"""Formula-alpha mining: masked token env, MaskablePPO trainer and search baselines."""

from __future__ import annotations

from quantrl.mining.env import AlphaMinerEnv, MiningTask
from quantrl.mining.registration import ENV_ID, register_miner_env
from quantrl.mining.simplify import Simplifier
from quantrl.mining.tokens import GrammarState, Vocabulary

register_miner_env()

__all__ = ["ENV_ID", "AlphaMinerEnv", "GrammarState", "MiningTask", "Simplifier", "Vocabulary"]
