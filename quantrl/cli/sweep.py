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
    split = "test".
    """
    result = run_sweep(
        spec, executor, workers=workers, address=address, strategy_factory=get_strategy
    )
    table = Table(
        title=f"sweep {result.name} on the {result.split} split, best {result.metric} first"
    )
    table.add_column("parameters")
    for col in ("sharpe_ratio", "total_return", "max_drawdown", "turnover"):
        table.add_column(col, justify="right")
    for row in result.rows[:top]:
        m = row["metrics"]
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        table.add_row(
            params,
            *(f"{m.get(c, float('nan')):.4f}" for c in ("sharpe_ratio", "total_return",
                                                         "max_drawdown", "turnover")),
        )  # fmt: skip
    Console().print(table)
    Console().print(f"ranked on the {result.split} split; report: {result.report}")
