"""``run_demo``: the whole demo job (see ``quantrl.demo``), one Python call."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from quantrl.backtest import run_weights
from quantrl.data import load_market
from quantrl.data.loader import load_benchmark
from quantrl.data.splits import market_split
from quantrl.data.summary import summarize_datasets
from quantrl.demo.config import (
    ALPHA_COLUMNS,
    POOL_NAME,
    PPO_NAME,
    WARMUP_ROWS,
    DemoBudget,
    DemoSummary,
)
from quantrl.demo.steps import (
    agent_test_weights,
    alpha_figure,
    alpha_tables,
    backtest_strategies,
    combined_on_test,
    mine_pools,
    pool_verdict,
    reference_on_test,
    summary_table,
    train_demo_agent,
)
from quantrl.evaluation.report import write_report
from quantrl.stats.ic import nanmean, rank_ic_series

Progress = Callable[[str], None]

PROGRESS_MESSAGES = 7
"""Progress messages one ``run_demo`` call emits (each one starts a step)."""


def _noop(message: str) -> None:
    return None


def run_demo(
    out_dir: str | Path = "runs/demo",
    *,
    strategies: Mapping[str, Any] | None = None,
    fast: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
    budget: DemoBudget | None = None,
    fees: float = 0.001,
) -> DemoSummary:
    """Run the whole demo and write ``report.html`` under ``out_dir``; returns its summary.

    ``strategies`` maps display names to objects with ``target_weights(panel)`` (the CLI builds
    them from the ``strategies`` gallery); they are backtested beside the PPO agent.
    ``progress(message)`` is called once per step (``PROGRESS_MESSAGES`` times).
    """

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

    say(f"backtesting {len(strategies or {})} strategies on the DOW30 test split")
    results = backtest_strategies(strategies or {}, test, benchmark, fees)
    lap("strategies")

    say(f"training PPO on Portfolio-v0 ({budget.ppo_steps} steps, {budget.ppo_n_envs} envs)")
    threads = torch.get_num_threads()
    try:
        model = train_demo_agent(budget, seed, fees)
        lap("ppo_train")
        say("evaluating PPO on the test split through the backtester")
        weights = agent_test_weights(model, test, fees)
    finally:
        torch.set_num_threads(threads)
    results[PPO_NAME] = run_weights(test, weights, fees=fees, benchmark=benchmark)
    lap("ppo_eval")

    say(
        f"mining {budget.mine_seeds} alpha pools on S&P 500 ({budget.mine_tokens} formula tokens "
        "each)"
    )
    pools, sp = mine_pools(budget, seed)
    pool = pools[0]
    lap("mining")
    say("evaluating the pools with AlphaEval on the test split")
    alpha_table, (reports, combo, label, dates) = alpha_tables(pool, sp, budget.horizon, seed)
    series = {seed: rank_ic_series(combo, label)}
    for k, other in enumerate(pools[1:], start=1):
        series[seed + k] = rank_ic_series(*combined_on_test(other, sp, budget.horizon)[:2])
    reference = rank_ic_series(reference_on_test(sp), label)
    verdict = pool_verdict(series, reference, budget.horizon)
    pool_file = out / "alpha_pool.json"
    pool.save(
        pool_file, metrics={"test": alpha_table.loc[POOL_NAME, list(ALPHA_COLUMNS[:3])].to_dict()}
    )
    lap("alphaeval")

    say("writing the report")
    table = summary_table(results)
    others = [series[s] for s in list(series)[1:]]
    figures = {"alpha_ic": alpha_figure(reports, combo, label, dates, others, reference)}
    report = write_report(
        results,
        out / "report.html",
        title="quantrl demo",
        subtitle=(
            f"DOW30 test split {str(test.dates[test.warmup])[:10]} .. {str(test.dates[-1])[:10]}, "
            f"fees {fees:g}, seed {seed}{' (fast budgets)' if fast else ''}; "
            f"alpha pools mined on {sp.n_symbols} S&P 500 stocks, seeds {seed}.."
            f"{seed + budget.mine_seeds - 1} (tables: seed {seed})"
        ),
        extra_tables={"Alpha pool (AlphaEval, S&P 500 test split)": alpha_table},
        extra_figures=figures,
        notes=[verdict],
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
        pool_verdict=verdict,
        seed_rank_ics={s: nanmean(x) for s, x in series.items()},
        figures=tuple(names),
        seed=seed,
        fast=fast,
        seconds=seconds,
    )


__all__ = ["PROGRESS_MESSAGES", "Progress", "run_demo"]
