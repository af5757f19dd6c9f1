"""RL agents over the quantrl environments: SB3 / sb3-contrib factory, callbacks, persistence
with data guards, and evaluation through the shared backtester."""

from __future__ import annotations

from quantrl.agents.evaluate import evaluate_agent, rollout
from quantrl.agents.factory import ALGOS, make_agent
from quantrl.agents.persist import Run, RunMeta, data_hash, load, read_meta, save
from quantrl.agents.policies import AgentStrategy
from quantrl.agents.training import TrainOutcome, train_agent

__all__ = [
    "ALGOS",
    "AgentStrategy",
    "Run",
    "RunMeta",
    "TrainOutcome",
    "data_hash",
    "evaluate_agent",
    "load",
    "make_agent",
    "read_meta",
    "rollout",
    "save",
    "train_agent",
]
