"""DOW30 test-split comparison: RL agents (PPO, A2C, SAC) vs classic strategies.

The agents are trained on the train split of ``quantrl/Portfolio-v0`` (DOW30, train up to
2018-12-31; softmax long-only weights with cash, log-return reward, fees 0.001, next-open fills)
with ``--timesteps`` steps each and ``--seed``, then rolled deterministically over the whole
test split (2021-01-01 onwards) by ``quantrl.agents.evaluate_agent``, which replays their target
weights through ``run_weights``. The strategies (1/N monthly, min-variance, 12-1 momentum from
``strategies``) compute weights on the full history (each row uses only data up to it), and are
backtested with ``run_weights`` on the same test rows, with the same fees and timing, starting
all in cash from the same first decision row (the last target in force is carried into that row).

The table gives Sharpe, Sortino, max drawdown, cumulative return and the deflated Sharpe ratio
over the compared policies as trials (their number and the variance of their per-bar Sharpe
ratios). Run:
``python benchmarks/compare_agents.py [--timesteps 20000] [--seed 0] [--algos ppo,a2c,sac]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import print_table  # noqa: E402


def strategy_weights_on(seg_dates: np.ndarray, full: Any, weights: np.ndarray) -> np.ndarray:
    """Rows of full-history weights for ``seg_dates``; the target in force fills the first row."""
    rows = np.searchsorted(full.dates, seg_dates)
    out = weights[rows].copy()
    valid = np.flatnonzero(~np.isnan(weights[: rows[0] + 1]).all(axis=1))
    if valid.size:
        out[0] = np.where(np.isnan(weights[valid[-1]]), 0.0, weights[valid[-1]])
    return out


def main(argv: list[str] | None = None) -> None:
    """Train the agents, backtest everything on the test split, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--algos", default="ppo,a2c,sac")
    parser.add_argument("--fees", type=float, default=0.001)
    args = parser.parse_args(argv)

    import torch

    import quantrl
    from quantrl.agents import evaluate_agent, train_agent
    from quantrl.backtest import run_weights
    from quantrl.envs import PortfolioEnv
    from quantrl.stats.performance import TrialSet
    from strategies import get_strategy

    torch.set_num_threads(1)
    panel = quantrl.load_market("dow30")
    env_kwargs = {"fees": args.fees}
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for algo in [a.strip() for a in args.algos.split(",") if a.strip()]:
        start = time.perf_counter()
        outcome = train_agent(
            "quantrl/Portfolio-v0",
            algo=algo,
            timesteps=args.timesteps,
            market=panel,
            seed=args.seed,
            env_kwargs=env_kwargs,
        )
        timings[algo.upper()] = time.perf_counter() - start
        test_env = PortfolioEnv(panel, split="test", episode_length=None, **env_kwargs)
        results[algo.upper()] = evaluate_agent(outcome.model, test_env)
        print(f"trained {algo} in {timings[algo.upper()]:.0f} s", flush=True)

    test_env = PortfolioEnv(panel, split="test", episode_length=None, **env_kwargs)
    seg = test_env.panel.slice(test_env.panel.dates[test_env.first_row], None)
    for label, name in (
        ("1/N", "equal_weight"),
        ("min-variance", "min_variance"),
        ("momentum", "momentum"),
    ):
        w_full = get_strategy(name).target_weights(panel)
        w = strategy_weights_on(seg.dates, panel, w_full)
        results[label] = run_weights(seg, w, fees=args.fees)

    trials = TrialSet.from_returns(np.column_stack([r.returns for r in results.values()]))
    rows = []
    for label, res in results.items():
        s = res.stats(trials)
        rows.append(
            {
                "policy": label,
                "Sharpe": float(s["Sharpe ratio"]),
                "Sortino": float(s["Sortino ratio"]),
                "max DD": float(s["Max drawdown"]),
                "cum. return": float(s["Total return"]),
                "DSR": float(s["Deflated Sharpe ratio"]),
                "train s": round(timings.get(label, 0.0), 1),
            }
        )
    dates = f"{str(seg.dates[0])[:10]}..{str(seg.dates[-1])[:10]}"
    print_table(
        f"DOW30 test split {dates} ({seg.n_dates} bars), fees {args.fees}, next-open fills, "
        f"agents: {args.timesteps} steps, seed {args.seed}; DSR over {trials.n_trials} trials",
        rows,
    )


if __name__ == "__main__":
    main()
