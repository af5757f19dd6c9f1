"""``quantrl train`` and ``quantrl eval``: train an RL agent into a run folder, backtest it.

``eval`` is thin over ``quantrl.jobs.ledger.evaluate_agent_run``: the validation split by default
(``--split test`` on purpose), the evaluation recorded in the trial ledger, the deflated Sharpe
ratio over the study's trials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from quantrl.agents.training import train_agent
from quantrl.cli.backtest import (
    RegistryOpt,
    StudyOpt,
    TestStartOpt,
    ValidStartOpt,
    load_with_progress,
    parse_params,
    print_evaluation,
)
from quantrl.data.providers.bundled import DATASETS
from quantrl.display import format_value
from quantrl.errors import ConfigError
from quantrl.jobs.ledger import evaluate_agent_run

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
    market: Annotated[
        str | None, typer.Option(help="bundled market or data file (default per env)")
    ] = None,
    valid_start: ValidStartOpt = None,
    test_start: TestStartOpt = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    eval_freq: Annotated[int, typer.Option(help="evaluate on valid every N steps (0: never)")] = 0,
    patience: Annotated[int | None, typer.Option(help="stop after N evals w/o gain")] = None,
    env_param: Annotated[
        list[str] | None, typer.Option("--env-param", help="env kwarg key=value (repeatable)")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="show a progress bar")
    ] = True,
) -> None:
    """Train an agent on the train split and save it as a run folder (safetensors + meta.json).

    A data-file market needs --valid-start and --test-start (the run folder keeps them).
    """

    if (valid_start is None) != (test_start is None):
        raise ConfigError("give both --valid-start and --test-start, or neither")
    target = out or Path("runs") / f"{algo.lower()}-seed{seed}"
    source = market if market is None or market in DATASETS else load_with_progress(market)
    outcome = train_agent(
        env_id,
        algo=algo,
        timesteps=timesteps,
        market=source,
        seed=seed,
        env_kwargs=_env_params(env_param),
        split_dates=(valid_start, test_start) if valid_start and test_start else None,
        out=target,
        eval_freq=eval_freq or None,
        patience=patience,
        progress=progress,
    )
    rewards = outcome.episode_rewards
    console.print(
        f"trained {algo} on {outcome.env_id} ({outcome.model.num_timesteps} steps, "
        f"{len(rewards)} episodes, last episode reward "
        f"{format_value(rewards[-1] if rewards else float('nan'))})"
    )
    for row in outcome.eval_history:
        console.print(
            f"  eval @ {int(row['timesteps'])}: sharpe {row['sharpe']:.3f}, total return "
            f"{row['total_return']:.2%}, max drawdown {row['max_drawdown']:.2%}"
        )
    console.print(f"saved run to {outcome.run_path}")


def eval_command(
    run: Annotated[Path, typer.Argument(help="run folder written by quantrl train")],
    split: Annotated[
        str,
        typer.Option(help="train, valid, test or all; test is looked at on purpose and recorded"),
    ] = "valid",
    market: Annotated[
        str | None,
        typer.Option(help="the data file the run was trained on (bundled markets: by name)"),
    ] = None,
    valid_start: ValidStartOpt = None,
    test_start: TestStartOpt = None,
    report: Annotated[Path | None, typer.Option(help="write an HTML tear sheet here")] = None,
    study: StudyOpt = None,
    registry: RegistryOpt = None,
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
    """Backtest a saved agent on a split (validation by default); print its statistics.

    The evaluation is recorded in the trial ledger; the deflated Sharpe ratio counts the trials
    of the study on that split. --valid-start/--test-start may restate the run's split dates,
    never change them.
    """

    evaluation = evaluate_agent_run(
        run,
        market=load_with_progress(market) if market else None,
        split=split,
        study=study,
        registry=registry,
        valid_start=valid_start,
        test_start=test_start,
        check_hash=check_hash,
        trust=trust,
    )
    name = next(iter(evaluation.results))
    meta_market = evaluation.panel.name if evaluation.panel is not None else ""
    print_evaluation(evaluation, f"{name}", meta_market or "market")
    if report is not None:
        path = evaluation.write_report(
            report,
            title=f"{name} agent",
            subtitle=f"{split} split, run {run}, study {evaluation.study}",
        )
        console.print(f"wrote {path}", markup=False, highlight=False)


__all__ = ["eval_command", "train_command"]
