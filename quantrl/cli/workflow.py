"""``quantrl workflow run spec.toml``: features -> model -> signal -> backtest from one spec."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from quantrl.cli.backtest import RegistryOpt, StudyOpt
from quantrl.display import format_number
from quantrl.workflow import load_workflow_spec, run_workflow

__all__ = ["workflow_app"]

workflow_app = typer.Typer(
    help="Model workflows (Qlib style): feature set -> model -> top-k dropout backtest.",
    no_args_is_help=True,
)

_STATS = ("Total return", "CAGR", "Annual volatility", "Sharpe ratio", "Max drawdown", "Turnover")


def _fmt(value: float, digits: int = 4) -> str:
    return format_number(value, digits)


@workflow_app.command("run")
def run_command(
    spec: Annotated[Path, typer.Argument(help="workflow spec (TOML)")],
    out: Annotated[
        Path | None, typer.Option("--out", help="output folder (overrides [output] dir)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="model seed (overrides [model] seed)")] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="skip the HTML tear sheet")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bars")] = False,
    study: StudyOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Run a workflow spec: train, predict, score the signal and backtest top-k dropout."""
    console = Console()
    parsed = load_workflow_spec(spec)
    if seed is not None:
        parsed = parsed.with_seed(seed)
    output: dict[str, object] = {}
    if out is not None:
        output["dir"] = str(out.resolve())
    if no_report:
        output["report"] = False
    if output:
        parsed = parsed.model_copy(update={"output": parsed.output.model_copy(update=output)})
    result = run_workflow(
        parsed, progress=not quiet, console=console, study=study, registry=registry
    )
    table = Table(title=f"{parsed.name}: signal by split (against the raw label)")
    for col in ("split", "IC", "ICIR", "RankIC", "RankICIR", "dates"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for name, s in result.ic.items():
        table.add_row(
            name, _fmt(s.ic), _fmt(s.icir, 3), _fmt(s.rank_ic), _fmt(s.rank_icir, 3), str(s.n_dates)
        )
    console.print(table)
    stats = result.backtest_stats()
    bt = Table(
        title=f"top-{parsed.strategy.topk} dropout on the test split "
        f"(fees {parsed.strategy.fees:g} per side)"
    )
    bt.add_column("statistic")
    bt.add_column("value", justify="right")
    for key in (*_STATS, "Deflated Sharpe ratio", "Trials (DSR)"):
        if key in stats.index:
            bt.add_row(key, _fmt(float(stats[key])))
    console.print(bt)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    console.print(f"model: {result.meta['model']}")
    console.print(f"stages: {timing}")
    for kind, path in result.files.items():
        console.print(f"{kind}: {path}")
