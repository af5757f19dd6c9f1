"""The main demo as one Python call: ``run_demo(out_dir, strategies=...)`` (``quantrl demo``).

Steps, all seeded and on bundled data:

1. summarise the bundled datasets and load DOW30;
2. backtest the given strategies (the CLI passes 1/N, minimum variance, risk parity, momentum and
   MA crossover from the ``strategies`` gallery) on the DOW30 test split (2021-2023; one year of
   history before it is warm-up only);
3. train a PPO agent on ``quantrl/Portfolio-v0`` (train split) with ``quantrl.agents.train_agent``
   on the batched env, roll its deterministic policy through the test split with
   ``quantrl.agents.rollout`` and backtest the weights it chose with the same costs and timing;
4. mine small alpha pools with the miner's masked random search on an S&P 500 slice (train
   split, token budget, five seeds), evaluate the first seed's members and combined factor with
   the AlphaEval dimensions on the test split, and state the combined test RankIC over the seeds
   (CI over seeds, Newey-West t over dates) and against the 20-day reversal factor;
5. write ``report.html`` (tear sheet of the strategies and PPO, the alpha table and figure) and
   ``alpha_pool.json``.

Budgets are counted in steps (environment steps, formula tokens), not seconds, so a run is
deterministic under its seed; ``fast=True`` shrinks every budget for tests. The library does not
import the ``strategies`` gallery: strategies come in as objects with ``target_weights(panel)``.
"""

from __future__ import annotations

from quantrl.demo.config import (
    ALPHA_COLUMNS,
    POOL_NAME,
    PPO_NAME,
    SUMMARY_COLUMNS,
    DemoBudget,
    DemoSummary,
)
from quantrl.demo.job import run_demo
from quantrl.demo.steps import (
    agent_test_weights,
    alpha_figure,
    alpha_tables,
    backtest_strategies,
    mine_pools,
    summary_table,
    train_demo_agent,
)

__all__ = [
    "ALPHA_COLUMNS",
    "POOL_NAME",
    "PPO_NAME",
    "SUMMARY_COLUMNS",
    "DemoBudget",
    "DemoSummary",
    "agent_test_weights",
    "alpha_figure",
    "alpha_tables",
    "backtest_strategies",
    "mine_pools",
    "run_demo",
    "summary_table",
    "train_demo_agent",
]
