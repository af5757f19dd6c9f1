"""``quantrl experiment``: run the research reproductions (``run NAME [--fast]``, ``list``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from quantrl.experiments.registry import EXPERIMENTS, get_experiment, list_experiments
from quantrl.experiments.runner import run_experiment
from quantrl.progress import ProgressBar

experiment_app = typer.Typer(
    help="Research reproductions as runnable experiments.", rich_markup_mode=None
)
console = Console(width=140)


@experiment_app.command("list")
def list_cmd() -> None:
    """List the registered experiments."""
    for name in list_experiments():
        console.print(f"{name:20s} {get_experiment(name).title}")


@experiment_app.command("run")
def run_cmd(
    name: Annotated[str, typer.Argument(help=f"one of: {', '.join(sorted(EXPERIMENTS))}")],
    fast: Annotated[bool, typer.Option("--fast", help="small budget (under two minutes)")] = False,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", help="output folder (default runs/experiments/NAME)")
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="trial-ledger study (default experiment/NAME)")
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            help="registry SQLite file (default: $QUANTRL_REGISTRY or runs/registry.sqlite)"
        ),
    ] = None,
) -> None:
    """Run experiment NAME: print its table, write report.html and table.csv.

    Its backtests are recorded in the trial ledger; the tables show the deflated Sharpe ratio
    with the number of trials of the study.
    """
    out_dir = out if out is not None else Path("runs/experiments") / name
    with ProgressBar(f"experiment {name}", None, console=console, transient=True):
        run_experiment(
            name, out_dir, fast=fast, seed=seed, console=console, study=study, registry=registry
        )
    console.print(f"wrote {out_dir / 'table.csv'} and {out_dir / 'report.html'}")


__all__ = ["experiment_app"]
