"""``quantrl sweep SPEC.toml``: a thin command over ``quantrl.jobs.sweep.run_sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from quantrl.jobs.sweep import run_sweep
from strategies import get_strategy

__all__ = ["sweep_command"]


def sweep_command(
    spec: Annotated[Path, typer.Argument(help="sweep spec (TOML)")],
    executor: Annotated[str | None, typer.Option(help="'local' processes or 'ray'")] = None,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster: 'auto' or 'ray://host:10001' (ray only)")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="concurrent combinations")] = None,
    top: Annotated[int, typer.Option(help="rows to print")] = 20,
) -> None:
    """Run a strategy or agent parameter sweep; results go to the registry and an HTML report.

    Combinations are judged on the spec's split: the validation split unless it says
    split = "test". Each is recorded in the trial ledger of the spec's study, and the deflated
    Sharpe ratio (DSR) counts the study's trials on that split.
    """
    result = run_sweep(
        spec,
        executor,
        workers=workers,
        address=address,
        strategy_factory=get_strategy,
        progress=True,
    )
    table = Table(
        title=f"sweep {result.name} on the {result.split} split, best {result.metric} first",
        caption=(
            f"DSR over {result.trials.n_trials} trial(s) of study {result.study!r} on the "
            f"{result.split} split"
        ),
    )
    table.add_column("parameters")
    columns = ("sharpe_ratio", "deflated_sharpe_ratio", "total_return", "max_drawdown", "turnover")
    for col in columns:
        table.add_column(col.replace("deflated_sharpe_ratio", "DSR"), justify="right")
    for row in result.rows[:top]:
        m = row["metrics"]
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        table.add_row(params, *(f"{m.get(c, float('nan')):.4f}" for c in columns))
    console = Console()
    console.print(table)
    console.print(f"ranked on the {result.split} split; report: {result.report}", markup=False)
