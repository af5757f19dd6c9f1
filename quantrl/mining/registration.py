"""Registers ``quantrl/AlphaMiner-v0`` with gymnasium (done when ``quantrl.mining`` loads)."""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "quantrl/AlphaMiner-v0"
"""Gymnasium id of the formula-mining environment."""


def register_miner_env() -> None:
    """Register ``quantrl/AlphaMiner-v0`` (idempotent); episodes end by themselves (end token)."""
    if ENV_ID in gym.registry:
        return
    gym.register(id=ENV_ID, entry_point="quantrl.mining.env:AlphaMinerEnv")
