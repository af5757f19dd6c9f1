"""The demo's steps: strategy backtests, the PPO agent, alpha mining and AlphaEval, tables."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from quantrl.agents.evaluate import rollout, trajectory_weights
from quantrl.agents.training import train_agent
from quantrl.alpha import parse
from quantrl.backtest.compare import compare
from quantrl.data import load_market
from quantrl.data.splits import market_split
from quantrl.demo.config import ALPHA_COLUMNS, POOL_NAME, SUMMARY_COLUMNS, TEMPERATURE, DemoBudget
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.errors import ConfigError
from quantrl.evaluation.alpha import alphaeval, diversity, evaluate_split, quantile_returns
from quantrl.mining import MiningTask, Vocabulary
from quantrl.mining.baselines import RandomSearch
from quantrl.mining.pool import AlphaPool
from quantrl.stats.ic import ic_summary, rank_ic_series


# ---------------------------------------------------------------------------- strategies
def backtest_strategies(
    strategies: Mapping[str, Any], test: Any, benchmark: np.ndarray | None, fees: float
) -> dict[str, Any]:
    """Backtest strategy objects (``target_weights(panel)``) on a test panel with warm-up rows."""
    if not strategies:
        return {}
    return compare(dict(strategies), test, benchmark=benchmark, fees=fees)


# ---------------------------------------------------------------------------- PPO
def train_demo_agent(budget: DemoBudget, seed: int, fees: float) -> Any:
    """PPO on ``Portfolio-v0`` (DOW30 train split) through ``quantrl.agents.train_agent``."""
    outcome = train_agent(
        "quantrl/Portfolio-v0",
        algo="ppo",
        timesteps=budget.ppo_steps,
        market="dow30",
        seed=seed,
        n_envs=budget.ppo_n_envs,
        env_kwargs={
            "episode_length": budget.ppo_episode_length,
            "fees": fees,
            "temperature": TEMPERATURE,
        },
    )
    return outcome.model


def agent_test_weights(model: Any, test: Any, fees: float) -> np.ndarray:
    """Roll the deterministic policy through the test split; (T, N) targets on ``test``'s rows.

    Rows without a decision (the warm-up history, the last row) are 0 (cash).
    """
    env = PortfolioEnv(
        "dow30", split="test", episode_length=None, fees=fees, temperature=TEMPERATURE
    )
    if tuple(env.symbols) != tuple(test.symbols):
        raise ConfigError("the PPO test env and the test panel list different symbols")
    decided = trajectory_weights(rollout(model, env), env.panel.n_dates)
    rows = np.searchsorted(test.dates, env.panel.dates)
    inside = rows < test.n_dates
    inside[inside] = test.dates[rows[inside]] == env.panel.dates[inside]
    keep = inside & np.isfinite(decided).all(axis=1)
    weights = np.zeros((test.n_dates, test.n_symbols))
    weights[rows[keep]] = decided[keep]
    return weights


# ---------------------------------------------------------------------------- alpha mining
def mine_pool(budget: DemoBudget, seed: int) -> tuple[Any, Any]:
    """Masked random search on an S&P 500 slice (train split) -> (pool, full sp500 slice)."""

    sp = load_market("sp500", start=budget.mine_start)
    sp = sp.select(list(sp.symbols[: budget.mine_symbols]))
    train = market_split(sp, "train", market="sp500")
    pool = AlphaPool(budget.pool_capacity, purge=budget.horizon)
    task = MiningTask(train, train.forward_returns(budget.horizon), pool)
    searcher = RandomSearch(task, Vocabulary(max_len=12), seed=seed)
    searcher.run_chunk(budget.mine_tokens)
    if len(task.pool) == 0:  # pragma: no cover - a pool always accepts its first valid factor
        task.pool.try_add("Mean($close, 20) / $close - 1")
    return task.pool, sp


def alpha_tables(pool: Any, sp: Any, horizon: int, seed: int) -> tuple[pd.DataFrame, Any]:
    """AlphaEval of each pool member and of the combined factor on the S&P 500 test split."""

    formulas = pool.formulas
    reports, _ = evaluate_split(formulas, sp, "test", horizon=horizon, seed=seed)
    # diversity over the members that carry information on the test split (constants do not)
    live = [r.factor for r in reports if r.metrics.n_dates > 0]
    div = diversity(live) if len(live) > 1 else math.nan
    rows = {}
    for k, rep in enumerate(reports):
        m = rep.metrics
        rows[f"alpha {k + 1}"] = {
            "formula": rep.formula,
            "weight": float(pool.weights[k]),
            **{c: float(getattr(m, c)) for c in ALPHA_COLUMNS if c != "diversity"},
            "diversity": div,
        }
    warmup = max(int(parse(f).lookback) for f in formulas)
    seg = market_split(sp, "test", market="sp500", warmup=warmup)
    combo = pool.combined(seg)[seg.warmup :]
    label = seg.forward_returns(horizon)[seg.warmup :]
    m = alphaeval(combo, label, seed=seed)
    rows[POOL_NAME] = {
        "formula": f"{len(formulas)} members, fitted weights",
        "weight": math.nan,
        **{c: float(getattr(m, c)) for c in ALPHA_COLUMNS if c not in ("logic", "diversity")},
        "logic": math.nan,
        "diversity": div,
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "factor"
    return table, (reports, combo, label, seg.dates[seg.warmup :])


def alpha_figure(reports: list[Any], combo: np.ndarray, label: np.ndarray, dates: Any) -> Any:
    """Cumulative RankIC of every member and the combined factor, and its quantile returns."""

    fig = Figure(figsize=(11, 4.2))
    ax_ic, ax_q = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    for k, rep in enumerate(reports):
        ax_ic.plot(rep.dates, np.cumsum(np.nan_to_num(rep.rank_ic)), lw=1.0, label=f"alpha {k + 1}")
    combined_ric = rank_ic_series(combo, label)
    ax_ic.plot(
        dates, np.cumsum(np.nan_to_num(combined_ric)), color="black", lw=2.0, label=POOL_NAME
    )
    ax_ic.axhline(0.0, color="grey", lw=0.5)
    ax_ic.set_title("Cumulative RankIC on the test split (S&P 500 slice)")
    ax_ic.legend(fontsize="small", loc="upper left")
    ax_ic.grid(alpha=0.3)
    ax_ic.tick_params(axis="x", labelrotation=30)
    qmeans, _ = quantile_returns(combo, label, 5)
    means = [
        float(np.nanmean(qmeans[:, i])) if np.isfinite(qmeans[:, i]).any() else 0.0
        for i in range(5)
    ]
    ax_q.bar(np.arange(1, 6), means, color=["#c0392b", "#e67e22", "#95a5a6", "#27ae60", "#1e8449"])
    ax_q.axhline(0.0, color="grey", lw=0.5)
    ax_q.set_title("Combined factor: mean forward return by quintile")
    ax_q.set_xlabel("quintile (1 = lowest factor)")
    fig.tight_layout()
    return fig


def pool_verdict(combo: np.ndarray, label: np.ndarray, horizon: int) -> str:
    """One plain sentence on the mined pool's combined test RankIC and its Newey-West t."""
    summary = ic_summary(combo, label, horizon)
    ric, t = summary.rank_ic, summary.rank_ic_t
    figures = (
        f"combined test RankIC {ric:+.4f} (Newey-West t {t:.2f}, {summary.lags} lags, "
        f"{summary.n_dates} dates)"
    )
    if not math.isfinite(ric) or not math.isfinite(t):
        return f"The mined pool could not be scored on the test split: {figures}."
    if ric > 0 and t >= 2.0:
        return f"The mined pool holds up on the test split: {figures}."
    if ric > 0:
        return (
            f"The mined pool's {figures} is positive but not significant: this budget found "
            "no reliable edge."
        )
    return f"This budget found nothing: the mined pool's {figures} is not positive."


# ---------------------------------------------------------------------------- tables
def summary_table(results: dict[str, Any]) -> pd.DataFrame:
    """Headline statistics, one row per backtest result."""
    rows = {}
    for name, res in results.items():
        stats = res.stats()
        rows[name] = {c: float(stats.get(c, math.nan)) for c in SUMMARY_COLUMNS}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "strategy"
    return table


__all__ = [
    "agent_test_weights",
    "alpha_figure",
    "alpha_tables",
    "backtest_strategies",
    "mine_pool",
    "pool_verdict",
    "summary_table",
    "train_demo_agent",
]
