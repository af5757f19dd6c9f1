"""The demo's budgets, names and summary record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

PPO_NAME = "PPO"
POOL_NAME = "pool (combined)"
SUMMARY_COLUMNS = ("Total return", "CAGR", "Sharpe ratio", "Sortino ratio", "Max drawdown")
ALPHA_COLUMNS = ("ic", "rank_ic", "icir", "pps", "rre", "pfs", "logic", "diversity")
TEMPERATURE = 5.0
"""Softmax temperature of the PPO agent's actions."""
WARMUP_ROWS = 252
"""A year of history before the test split (momentum's lookback)."""
REFERENCE_NAME = "20-day reversal"
REFERENCE_FORMULA = "Mean($close, 20) / $close - 1"
"""The classic factor the mined pools are compared with on the same test dates."""


@dataclass(frozen=True)
class DemoBudget:
    """Budgets of one demo run (steps, not seconds, so runs are reproducible).

    PPO trains for ``ppo_steps`` environment steps on ``ppo_n_envs`` parallel episodes of
    ``ppo_episode_length`` days (the batched env; rollout sizes from ``quantrl.agents``). Mining
    runs ``mine_seeds`` times (seeds ``seed`` .. ``seed + mine_seeds - 1``) with the same budget,
    so the verdict on the pools states their spread over seeds; the first seed's pool is the one
    in the tables.
    """

    ppo_steps: int = 131_072
    ppo_n_envs: int = 128
    ppo_episode_length: int = 252
    mine_tokens: int = 30000
    mine_seeds: int = 5
    mine_symbols: int = 100
    mine_start: str = "2014-06-01"
    pool_capacity: int = 8
    horizon: int = 20

    @classmethod
    def fast(cls) -> DemoBudget:
        """Tiny budgets for tests: about a thousand PPO steps and a few hundred formula tokens."""
        return cls(
            ppo_steps=1024,
            ppo_n_envs=16,
            ppo_episode_length=64,
            mine_tokens=200,
            mine_seeds=2,
            mine_symbols=30,
            mine_start="2015-06-01",
            pool_capacity=4,
        )


@dataclass
class DemoSummary:
    """What a demo run produced: tables, the mined formulas, file paths and timings."""

    out_dir: Path
    report: Path
    pool_file: Path
    datasets: list[dict[str, Any]]
    table: pd.DataFrame  # one row per strategy (and PPO): SUMMARY_COLUMNS
    alpha_table: pd.DataFrame  # one row per pool member and the combined factor: ALPHA_COLUMNS
    formulas: list[str]
    pool_weights: list[float]
    pool_verdict: str  # plain sentences on the pools' combined test RankIC over seeds
    seed_rank_ics: dict[int, float]  # each seed's pool: combined test RankIC
    figures: tuple[str, ...]
    seed: int
    fast: bool
    seconds: dict[str, float] = field(default_factory=dict)


__all__ = [
    "ALPHA_COLUMNS",
    "POOL_NAME",
    "PPO_NAME",
    "REFERENCE_FORMULA",
    "REFERENCE_NAME",
    "SUMMARY_COLUMNS",
    "TEMPERATURE",
    "WARMUP_ROWS",
    "DemoBudget",
    "DemoSummary",
]
