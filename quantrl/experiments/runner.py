"""Run a registered experiment, print its table and write ``report.html`` and ``table.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from quantrl.data.cache import atomic_write_bytes
from quantrl.evaluation.report import ReportNotes, ReportTable, render_report, write_report
from quantrl.experiments.registry import ExperimentResult, get_experiment


def rich_table(frame: pd.DataFrame, title: str = "") -> Table:
    """A rich ``Table`` of a DataFrame (index as the first column, floats to 4 significant)."""
    table = Table(title=title)
    table.add_column(str(frame.index.name or ""))
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for idx, row in frame.iterrows():
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.tolist()]
        table.add_row(str(idx), *cells)
    return table


def run_experiment(
    name: str,
    out_dir: str | Path | None = None,
    *,
    fast: bool = False,
    seed: int = 0,
    console: Console | None = None,
) -> ExperimentResult:
    """Run experiment ``name`` into ``out_dir`` (default ``runs/experiments/NAME``)."""

    experiment = get_experiment(name)
    out = Path(out_dir) if out_dir is not None else Path("runs/experiments") / name
    out.mkdir(parents=True, exist_ok=True)
    result = experiment.run(out, fast=fast, seed=seed)
    console = console or Console(width=140)
    console.print(rich_table(result.table, f"{experiment.title} ({'fast' if fast else 'full'})"))
    for note in result.notes:
        console.print(f"- {note}")
    atomic_write_bytes(out / "table.csv", result.table.to_csv().encode())
    windows = pd.DataFrame(
        [(k, str(a)[:19], str(b)[:19]) for k, (a, b) in result.windows.items()],
        columns=["segment", "first", "last"],
    ).set_index("segment")
    tables = {"Results": result.table, **result.extra_tables, "Windows": windows}
    subtitle = f"experiment {name}, seed {seed}, {'fast' if fast else 'full'} run"
    if result.backtests:
        write_report(
            result.backtests,
            out / "report.html",
            title=experiment.title,
            subtitle=subtitle,
            extra_tables=tables,
            notes=result.notes,
        )
    else:
        sections = [ReportTable(k, v) for k, v in tables.items()]
        if result.notes:
            sections.append(ReportNotes("Notes", result.notes))
        render_report(out / "report.html", experiment.title, sections, subtitle=subtitle)
    return result


__all__ = ["rich_table", "run_experiment"]
