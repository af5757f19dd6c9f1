"""``quantrl demo``: ``quantrl.demo.run_demo`` with the gallery's strategies, a progress bar, the
summary tables and the report's path."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from quantrl.cli.data import summary_table
from quantrl.demo import PPO_NAME, run_demo
from quantrl.demo.job import PROGRESS_MESSAGES
from quantrl.progress import ProgressBar
from strategies import get_strategy

console = Console(width=max(Console().width, 110))

STEPS = PROGRESS_MESSAGES

STRATEGY_NAMES: dict[str, tuple[str, dict[str, Any]]] = {
    "1/N": ("equal_weight", {}),
    "min-variance": ("min_variance", {}),
    "risk parity": ("risk_parity", {}),
    "momentum": ("momentum", {}),
    "MA crossover": ("ma_crossover", {}),
}
"""The demo's strategies: display name -> (gallery name, parameters)."""


def demo_strategies() -> dict[str, Any]:
    """The demo's strategy objects from the ``strategies`` gallery, by display name."""
    return {label: get_strategy(name, **params) for label, (name, params) in STRATEGY_NAMES.items()}


def frame_table(frame: pd.DataFrame, title: str, percent: tuple[str, ...] = ()) -> Table:
    """A numeric DataFrame as a rich table (columns in ``percent`` shown as percentages)."""
    table = Table(title=title)
    table.add_column(frame.index.name or "", no_wrap=True)
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for idx, row in frame.iterrows():
        cells = []
        for col, v in row.items():
            if isinstance(v, str):
                cells.append(v if len(v) <= 48 else v[:45] + "...")
            elif v is None or not math.isfinite(float(v)):
                cells.append("-")
            elif col in percent:
                cells.append(f"{100 * float(v):.1f}%")
            else:
                cells.append(f"{float(v):.3f}")
        table.add_row(str(idx), *cells)
    return table


def demo_command(
    fast: Annotated[bool, typer.Option("--fast", help="tiny budgets (for tests)")] = False,
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("runs/demo"),
    seed: Annotated[int, typer.Option("--seed", help="seed of every random choice")] = 0,
) -> None:
    """Run the main demo: data summary, strategies, PPO, alpha mining, AlphaEval and a report."""

    start = time.perf_counter()
    with ProgressBar("starting", STEPS, console=console) as bar:
        started = itertools.count()  # a message starts the next step, so count the ones before

        def step(message: str) -> None:
            bar.update(next(started), description=message)

        summary = run_demo(out, strategies=demo_strategies(), fast=fast, seed=seed, progress=step)
        bar.update(STEPS, description="done")
    console.print(summary_table(summary.datasets, title="Bundled datasets"))
    console.print(
        frame_table(
            summary.table,
            f"DOW30 test split: strategies and {PPO_NAME}",
            percent=("Total return", "CAGR", "Max drawdown"),
        )
    )
    alpha = summary.alpha_table.drop(columns=["formula"])
    console.print(frame_table(alpha, "Alpha pool: AlphaEval on the S&P 500 test split"))
    for k, formula in enumerate(summary.formulas):
        console.print(f"  alpha {k + 1} = {formula}", soft_wrap=True, highlight=False)
    console.print(summary.pool_verdict, soft_wrap=True, highlight=False)
    console.print(f"report: [bold]{summary.report}[/]  ({time.perf_counter() - start:.0f} s)")
