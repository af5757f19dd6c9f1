"""Run a registered experiment, print its table and write ``report.html`` and ``table.csv``.

An experiment's backtests are recorded in the registry's trial ledger (kind ``experiment``, study
``experiment/NAME`` unless ``study=`` names another; split ``test`` when the experiment reports a
test window) and its tables show the deflated Sharpe ratio beside the Sharpe ratio, with the number
of trials of the study it deflates over.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from quantrl.data.cache import atomic_write_bytes
from quantrl.evaluation.report import (
    ReportNotes,
    ReportTable,
    render_report,
    stats_table,
    write_report,
)
from quantrl.experiments.registry import ExperimentResult, get_experiment
from quantrl.jobs.ledger import note_test_use, open_registry, record_backtests
from quantrl.jobs.store import Registry
from quantrl.stats.performance import TrialSet

DSR_ROWS = ("Sharpe ratio", "Deflated Sharpe ratio", "Trials (DSR)")
"""Columns of the table that puts each backtest's DSR beside its Sharpe ratio."""


def deflated_table(backtests: dict, trials: TrialSet) -> pd.DataFrame:
    """Sharpe ratio, deflated Sharpe ratio and the trial count used, one row per backtest."""
    frame = stats_table(backtests, trials).loc[list(DSR_ROWS)].T
    frame.index.name = "backtest"
    return frame


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
    study: str | None = None,
    registry: Registry | str | Path | None = None,
) -> ExperimentResult:
    """Run experiment ``name`` into ``out_dir`` (default ``runs/experiments/NAME``).

    Its backtests are recorded as trials of ``study`` (default ``experiment/NAME``) in
    ``registry`` (default: ``$QUANTRL_REGISTRY`` or ``runs/registry.sqlite``).
    """

    experiment = get_experiment(name)
    out = Path(out_dir) if out_dir is not None else Path("runs/experiments") / name
    out.mkdir(parents=True, exist_ok=True)
    result = experiment.run(out, fast=fast, seed=seed)
    console = console or Console(width=140)
    console.print(rich_table(result.table, f"{experiment.title} ({'fast' if fast else 'full'})"))
    trials: TrialSet | None = None
    notes = list(result.notes)
    deflated: dict[str, pd.DataFrame] = {}
    if result.backtests:
        reg = open_registry(registry)
        study_name = study or f"experiment/{name}"
        split = "test" if "test" in result.windows else "all"
        params = {"experiment": name, "seed": seed, "fast": fast}
        trials = record_backtests(
            reg,
            study_name,
            "experiment",
            result.backtests,
            split=split,
            params=dict.fromkeys(result.backtests, params),
        )
        label = (
            f"Deflated Sharpe ratio over {trials.n_trials} trial(s) of study {study_name!r} "
            f"on the {split} split"
        )
        deflated["Deflated Sharpe ratio"] = deflated_table(result.backtests, trials)
        console.print(rich_table(deflated["Deflated Sharpe ratio"], label))
        notes.append(label)
        if split == "test":
            notes.append(note_test_use(study_name, reg.count_trials(study_name, "test")))
    for note in notes:
        console.print(f"- {note}", markup=False, highlight=False)
    atomic_write_bytes(out / "table.csv", result.table.to_csv().encode())
    windows = pd.DataFrame(
        [(k, str(a)[:19], str(b)[:19]) for k, (a, b) in result.windows.items()],
        columns=["segment", "first", "last"],
    ).set_index("segment")
    tables = {"Results": result.table, **deflated, **result.extra_tables, "Windows": windows}
    subtitle = f"experiment {name}, seed {seed}, {'fast' if fast else 'full'} run"
    if result.backtests:
        write_report(
            result.backtests,
            out / "report.html",
            title=experiment.title,
            subtitle=subtitle,
            extra_tables=tables,
            trials=trials,
            notes=notes,
        )
    else:
        sections = [ReportTable(k, v) for k, v in tables.items()]
        if result.notes:
            sections.append(ReportNotes("Notes", result.notes))
        render_report(out / "report.html", experiment.title, sections, subtitle=subtitle)
    return result


__all__ = ["rich_table", "run_experiment"]
