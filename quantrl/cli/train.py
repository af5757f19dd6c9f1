"""``quantrl train`` and ``quantrl eval``: train an RL agent into a run folder, backtest it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from quantrl.agents.evaluate import evaluate_agent
from quantrl.agents.persist import load, read_meta
from quantrl.agents.training import train_agent
from quantrl.cli.backtest import parse_params
from quantrl.display import format_value
from quantrl.evaluation.report import stats_table, write_report

console = Console(width=max(Console().width, 110))


def _env_params(items: list[str] | None) -> dict:

    return parse_params(items)


def train_command(
    env_id: Annotated[str, typer.Argument(help="environment id, e.g. quantrl/Portfolio-v0")],
    algo: Annotated[
        str, typer.Option(help="ppo a2c sac td3 ddpg dqn maskable_ppo recurrent_ppo")
    ] = "ppo",
    timesteps: Annotated[int, typer.Option(help="training steps")] = 5000,
    out: Annotated[Path | None, typer.Option(help="run folder (default runs/ALGO-seedN)")] = None,
    market: Annotated[str | None, typer.Option(help="bundled market (default per env)")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    eval_freq: Annotated[int, typer.Option(help="evaluate on valid every N steps (0: never)")] = 0,
    patience: Annotated[int | None, typer.Option(help="stop after N evals w/o gain")] = None,
    env_param: Annotated[
        list[str] | None, typer.Option("--env-param", help="env kwarg key=value (repeatable)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = False,
) -> None:
    """Train an agent on the train split and save it as a run folder (safetensors + meta.json)."""

    target = out or Path("runs") / f"{algo.lower()}-seed{seed}"
    outcome = train_agent(
        env_id,
        algo=algo,
        timesteps=timesteps,
        market=market,
        seed=seed,
        env_kwargs=_env_params(env_param),
        out=target,
        eval_freq=eval_freq or None,
        patience=patience,
        progress=progress,
    )
    rewards = outcome.episode_rewards
    console.print(
        f"trained {algo} on {outcome.env_id} ({outcome.model.num_timesteps} steps, "
        f"{len(rewards)} episodes, last episode reward "
        f"{rewards[-1] if rewards else float('nan'):.4f})"
    )
    for row in outcome.eval_history:
        console.print(
            f"  eval @ {int(row['timesteps'])}: sharpe {row['sharpe']:.3f}, total return "
            f"{row['total_return']:.2%}, max drawdown {row['max_drawdown']:.2%}"
        )
    console.print(f"saved run to {outcome.run_path}")


def eval_command(
    run: Annotated[Path, typer.Argument(help="run folder written by quantrl train")],
    split: Annotated[str, typer.Option(help="train, valid, test or all")] = "test",
    report: Annotated[Path | None, typer.Option(help="write an HTML tear sheet here")] = None,
    check_hash: Annotated[bool, typer.Option(help="refuse changed market data")] = True,
    trust: Annotated[
        bool,
        typer.Option(
            "--trust",
            help="also load a stable-baselines3 model.zip (older run folders): this unpickles "
            "the file and EXECUTES any code it carries; only for files you trust",
        ),
    ] = False,
) -> None:
    """Backtest a saved agent on a split; print its statistics and optionally write a report."""

    meta = read_meta(run)
    loaded = load(run, trust=trust)
    result = evaluate_agent(None, loaded, split=split, check_hash=check_hash)
    name = f"{meta.algo} ({run.name})"
    table = stats_table({name: result})
    out = Table(title=f"{meta.env_id} on {meta.market}, {split} split")
    out.add_column("statistic")
    out.add_column(name, justify="right")
    for stat, value in table[name].items():
        out.add_row(str(stat), format_value(value))
    console.print(out)
    if report is not None:
        path = write_report(
            {name: result},
            report,
            title=f"{meta.algo} agent on {meta.market}",
            subtitle=f"{meta.env_id}, {split} split, run {run}",
        )
        console.print(f"wrote {path}")


__all__ = ["eval_command", "train_command"]
