"""``quantrl experiment``: run the research reproductions (``run NAME [--fast]``, ``list``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from quantrl.experiments.claims import MIN_SEEDS
from quantrl.experiments.registry import EXPERIMENTS, get_experiment, list_experiments
from quantrl.experiments.runner import (
    default_seeds,
    experiment_summary,
    rich_table,
    run_experiment,
)

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
    seed: Annotated[int, typer.Option("--seed", help="first seed")] = 0,
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds", min=1, help=f"number of seeds (default {MIN_SEEDS}; 2 with --fast)"
        ),
    ] = None,
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
    """Run experiment NAME over seeds: print its results and the verdict of each claim.

    Writes table.csv (the verdicts), measurements.csv, results.csv and report.html. Its backtests
    are recorded in the trial ledger; the tables show the deflated Sharpe ratio with the number
    of trials of the study.
    """
    out_dir = out if out is not None else Path("runs/experiments") / name
    n = seeds if seeds is not None else default_seeds(fast)
    run_experiment(
        name,
        out_dir,
        fast=fast,
        seed=seed,
        seeds=n,
        console=console,
        study=study,
        registry=registry,
    )
    console.print(f"wrote {out_dir / 'table.csv'} and {out_dir / 'report.html'}")


@experiment_app.command("summary")
def summary_cmd(
    root: Annotated[Path, typer.Option("--runs", help="folder of the studies' runs")] = Path(
        "runs/experiments"
    ),
) -> None:
    """Print every study's verdicts from its last run (studies not run are listed as such)."""
    table = experiment_summary(root)
    console.print(rich_table(table.set_index("study"), "Reproductions: verdicts per claim"))


__all__ = ["experiment_app"]
