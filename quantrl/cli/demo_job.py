"""The main demo job (``quantrl demo``): data, classic strategies, PPO, alpha mining, one report.

It lives beside the CLI because it is an application of the library (it uses the ``strategies``
gallery, which the library itself never imports); ``run_demo`` is the one Python call behind the
command.

Steps, all seeded and on bundled data:

1. summarise the bundled datasets and load DOW30;
2. backtest the classic strategies (1/N, minimum variance, risk parity, momentum, MA crossover)
   on the DOW30 test split (2021-2023; one year of history before it is warm-up only);
3. train a small PPO agent on ``quantrl/Portfolio-v0`` (train split), roll its deterministic policy
   through the test split and backtest the weights it chose with the same costs and timing;
4. mine a small alpha pool with the miner's masked random search on an S&P 500 slice (train
   split, token budget) and evaluate every member and the pool's combined factor with the
   AlphaEval dimensions on the test split;
5. write ``report.html`` (tear sheet of the strategies and PPO, the alpha table and figure) and
   ``alpha_pool.json``.

Budgets are counted in steps (environment steps, formula tokens), not seconds, so a run is
deterministic under its seed. ``fast=True`` shrinks every budget for tests.

The demo is an application on top of the library: it imports the ``strategies`` gallery
(which the library itself never does).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from stable_baselines3 import PPO

from quantrl.alpha import parse
from quantrl.backtest import run_weights
from quantrl.backtest.compare import compare
from quantrl.data import load_market
from quantrl.data.loader import load_benchmark
from quantrl.data.splits import market_split
from quantrl.data.summary import summarize_datasets
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.envs.vector import make_sb3_vec_env
from quantrl.errors import ConfigError
from quantrl.evaluation.alpha import alphaeval, diversity, evaluate_split, quantile_returns
from quantrl.evaluation.report import write_report
from quantrl.mining import MiningTask, Vocabulary
from quantrl.mining.baselines import RandomSearch
from quantrl.mining.pool import AlphaPool
from quantrl.stats.ic import rank_ic_series
from strategies import get_strategy

__all__ = ["DemoBudget", "DemoSummary", "run_demo", "STRATEGY_NAMES"]

# display name -> (registry name, parameters)
STRATEGY_NAMES: dict[str, tuple[str, dict[str, Any]]] = {
    "1/N": ("equal_weight", {}),
    "min-variance": ("min_variance", {}),
    "risk parity": ("risk_parity", {}),
    "momentum": ("momentum", {}),
    "MA crossover": ("ma_crossover", {}),
}
PPO_NAME = "PPO"
POOL_NAME = "pool (combined)"
SUMMARY_COLUMNS = ("Total return", "CAGR", "Sharpe ratio", "Sortino ratio", "Max drawdown")
ALPHA_COLUMNS = ("ic", "rank_ic", "icir", "pps", "rre", "pfs", "logic", "diversity")
TEMPERATURE = 5.0  # softmax temperature of the PPO agent's actions
WARMUP_ROWS = 252  # a year of history before the test split (momentum's lookback)


@dataclass(frozen=True)
class DemoBudget:
    """Budgets of one demo run (steps, not seconds, so runs are reproducible)."""

    ppo_steps: int = 32768
    ppo_n_envs: int = 8
    ppo_n_steps: int = 256
    ppo_episode_length: int = 252
    mine_tokens: int = 30000
    mine_symbols: int = 100
    mine_start: str = "2014-06-01"
    pool_capacity: int = 8
    horizon: int = 20

    @classmethod
    def fast(cls) -> DemoBudget:
        """Tiny budgets for tests: a few hundred PPO steps and formula tokens."""
        return cls(
            ppo_steps=256,
            ppo_n_envs=4,
            ppo_n_steps=32,
            ppo_episode_length=64,
            mine_tokens=200,
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
    figures: tuple[str, ...]
    seed: int
    fast: bool
    seconds: dict[str, float] = field(default_factory=dict)


Progress = Callable[[str], None]


def _noop(message: str) -> None:
    return None


# ---------------------------------------------------------------------------- strategies
def backtest_strategies(test: Any, benchmark: np.ndarray | None, fees: float) -> dict[str, Any]:
    """Backtest the classic strategies on a test panel (its warm-up rows are history only)."""

    chosen = {
        label: get_strategy(name, **params) for label, (name, params) in STRATEGY_NAMES.items()
    }
    return compare(chosen, test, benchmark=benchmark, fees=fees)


# ---------------------------------------------------------------------------- PPO
def _softmax_weights(action: np.ndarray, temperature: float, n_assets: int) -> np.ndarray:
    """Risky weights of a softmax action (assets then cash), as ``Portfolio-v0`` maps them."""
    z = temperature * np.asarray(action, dtype=np.float64)
    z = z - z.max()
    e = np.exp(z)
    return (e / e.sum())[:n_assets]


def train_ppo(budget: DemoBudget, seed: int, fees: float) -> Any:
    """Train a small SB3 PPO on ``Portfolio-v0`` (DOW30 train split), one torch thread."""

    venv = make_sb3_vec_env(
        budget.ppo_n_envs,
        "dow30",
        split="train",
        episode_length=budget.ppo_episode_length,
        fees=fees,
        temperature=TEMPERATURE,
        seed=seed,
    )
    venv.seed(seed)
    torch.manual_seed(seed)
    n_steps = budget.ppo_n_steps
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=n_steps,
        batch_size=min(256, n_steps * budget.ppo_n_envs),
        n_epochs=4,
        learning_rate=3e-4,
        gamma=0.99,
        policy_kwargs={"net_arch": [64, 64]},
        seed=seed,
        device="cpu",
        verbose=0,
    )
    model.learn(total_timesteps=budget.ppo_steps)
    return model


def ppo_test_weights(model: Any, test: Any, fees: float) -> np.ndarray:
    """Roll the deterministic policy through the test split; (T, N) targets on ``test``'s rows."""

    env = PortfolioEnv(
        "dow30", split="test", episode_length=None, fees=fees, temperature=TEMPERATURE
    )
    if tuple(env.symbols) != tuple(test.symbols):
        raise ConfigError("the PPO test env and the test panel list different symbols")
    weights = np.zeros((test.n_dates, test.n_symbols))
    row_of = {d: i for i, d in enumerate(test.dates.tolist())}
    obs, info = env.reset(options={"start": env.first_row})
    done = False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        row = row_of.get(env.panel.dates[env.t].tolist())
        if row is not None:
            weights[row] = _softmax_weights(action, TEMPERATURE, env.n_assets)
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return weights


# ---------------------------------------------------------------------------- alpha mining
def mine_pool(budget: DemoBudget, seed: int) -> tuple[Any, Any]:
    """Masked random search on an S&P 500 slice (train split) -> (pool, full sp500 slice)."""

    sp = load_market("sp500", start=budget.mine_start)
    sp = sp.select(list(sp.symbols[: budget.mine_symbols]))
    train = market_split(sp, "train", market="sp500")
    task = MiningTask(train, train.forward_returns(budget.horizon), AlphaPool(budget.pool_capacity))
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


# ---------------------------------------------------------------------------- the job
def summary_table(results: dict[str, Any]) -> pd.DataFrame:
    """Headline statistics, one row per backtest result."""
    rows = {}
    for name, res in results.items():
        stats = res.stats()
        rows[name] = {c: float(stats.get(c, math.nan)) for c in SUMMARY_COLUMNS}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "strategy"
    return table


def run_demo(
    out_dir: str | Path = "runs/demo",
    *,
    fast: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
    budget: DemoBudget | None = None,
    fees: float = 0.001,
) -> DemoSummary:
    """Run the whole demo and write ``report.html`` under ``out_dir``; returns its summary."""

    say = progress or _noop
    budget = budget or (DemoBudget.fast() if fast else DemoBudget())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now

    say("summarising the bundled datasets")
    datasets = summarize_datasets()
    dow = load_market("dow30")
    test = market_split(dow, "test", market="dow30", warmup=WARMUP_ROWS)
    benchmark = load_benchmark(test, market="dow30")
    lap("data")

    say("backtesting the classic strategies on the DOW30 test split")
    results = backtest_strategies(test, benchmark, fees)
    lap("strategies")

    say(f"training PPO on Portfolio-v0 ({budget.ppo_steps} steps)")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = train_ppo(budget, seed, fees)
        lap("ppo_train")
        say("evaluating PPO on the test split through the backtester")
        weights = ppo_test_weights(model, test, fees)
    finally:
        torch.set_num_threads(threads)
    results[PPO_NAME] = run_weights(test, weights, fees=fees, benchmark=benchmark)
    lap("ppo_eval")

    say(f"mining an alpha pool on S&P 500 ({budget.mine_tokens} formula tokens)")
    pool, sp = mine_pool(budget, seed)
    lap("mining")
    say("evaluating the pool with AlphaEval on the test split")
    alpha_table, (reports, combo, label, dates) = alpha_tables(pool, sp, budget.horizon, seed)
    pool_file = out / "alpha_pool.json"
    pool.save(
        pool_file, metrics={"test": alpha_table.loc[POOL_NAME, list(ALPHA_COLUMNS[:3])].to_dict()}
    )
    lap("alphaeval")

    say("writing the report")
    table = summary_table(results)
    figures = {"alpha_ic": alpha_figure(reports, combo, label, dates)}
    report = write_report(
        results,
        out / "report.html",
        title="quantrl demo",
        subtitle=(
            f"DOW30 test split {str(test.dates[test.warmup])[:10]} .. {str(test.dates[-1])[:10]}, "
            f"fees {fees:g}, seed {seed}{' (fast budgets)' if fast else ''}; "
            f"alpha pool mined on {sp.n_symbols} S&P 500 stocks"
        ),
        extra_tables={"Alpha pool (AlphaEval, S&P 500 test split)": alpha_table},
        extra_figures=figures,
    )
    lap("report")
    names = ("equity", "drawdown", "rolling_sharpe", "weights", "monthly_returns", *figures)
    return DemoSummary(
        out_dir=out,
        report=report,
        pool_file=pool_file,
        datasets=datasets,
        table=table,
        alpha_table=alpha_table,
        formulas=list(pool.formulas),
        pool_weights=[float(w) for w in pool.weights],
        figures=tuple(names),
        seed=seed,
        fast=fast,
        seconds=seconds,
    )
