"""Run a registered experiment, print its table and write ``report.html`` and ``table.csv``.

An experiment's backtests are recorded in the registry's trial ledger (kind ``experiment``, study
``experiment/NAME`` unless ``study=`` names another; split ``test`` when the experiment reports a
test window) and its tables show the deflated Sharpe ratio beside the Sharpe ratio, with the number
of trials of the study it deflates over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from quantrl.backtest.result import BacktestResult
from quantrl.data.cache import atomic_write_bytes
from quantrl.errors import ConfigError, DataError
from quantrl.evaluation.report import (
    ReportNotes,
    ReportTable,
    render_report,
    stats_table,
    write_report,
)
from quantrl.experiments.claims import MIN_SEEDS, Claim, verdict_table
from quantrl.experiments.registry import ExperimentResult, get_experiment, list_experiments
from quantrl.jobs.ledger import note_test_use, open_registry, record_backtests
from quantrl.jobs.store import Registry
from quantrl.progress import ProgressBar
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


@dataclass
class StudyResult:
    """A study run over seeds: the verdict table, the per-seed measurements and each run."""

    name: str
    verdicts: pd.DataFrame
    measurements: pd.DataFrame
    runs: dict[int, ExperimentResult]

    @property
    def table(self) -> pd.DataFrame:
        """The results tables of all seeds (one seed: its table; several: a seed level first)."""
        if len(self.runs) == 1:
            return next(iter(self.runs.values())).table
        return pd.concat({s: r.table for s, r in self.runs.items()}, names=["seed"])

    @property
    def first(self) -> ExperimentResult:
        """The first seed's run (its backtests make the report's tear sheet)."""
        return next(iter(self.runs.values()))

    @property
    def backtests(self) -> dict[str, BacktestResult]:
        """The first seed's backtests (the report's tear sheet)."""
        return self.first.backtests

    @property
    def windows(self) -> dict[str, tuple]:
        """The date windows the study used (the same for every seed)."""
        return self.first.windows

    @property
    def extra_tables(self) -> dict[str, pd.DataFrame]:
        """The first seed's extra tables (e.g. calibrations, per-bin fits)."""
        return self.first.extra_tables

    @property
    def notes(self) -> list[str]:
        """The first seed's notes on settings and caveats."""
        return self.first.notes

    def __repr__(self) -> str:
        counts = self.verdicts["verdict"].value_counts().to_dict() if len(self.verdicts) else {}
        summary = ", ".join(f"{n} {v}" for v, n in counts.items()) or "no claims"
        return f"StudyResult({self.name!r}, seeds={sorted(self.runs)}, {summary})"


def default_seeds(fast: bool) -> int:
    """Seeds a study runs by default: MIN_SEEDS for a full run, 2 for a fast (smoke) run."""
    return 2 if fast else MIN_SEEDS


def run_experiment(
    name: str,
    out_dir: str | Path | None = None,
    *,
    fast: bool = False,
    seed: int = 0,
    seeds: int = 1,
    console: Console | None = None,
    study: str | None = None,
    registry: Registry | str | Path | None = None,
    level: float = 0.95,
) -> StudyResult:
    """Run experiment ``name`` with ``seeds`` seeds from ``seed`` into ``out_dir``.

    ``out_dir`` defaults to ``runs/experiments/NAME``; each seed's files go to ``seed-N/``. It
    writes ``table.csv`` (the verdict table of the study's claims), ``measurements.csv`` (the
    claims' measurements per seed), ``results.csv`` (every seed's results table) and
    ``report.html``. Every seed's backtests are recorded as trials of ``study`` (default
    ``experiment/NAME``) in ``registry`` (default: ``$QUANTRL_REGISTRY`` or
    ``runs/registry.sqlite``) and the tables show their deflated Sharpe ratios.
    """
    if seeds < 1:
        raise ConfigError(f"seeds must be at least 1, got {seeds}")
    experiment = get_experiment(name)
    claims: tuple[Claim, ...] = tuple(getattr(experiment, "claims", ()))
    out = Path(out_dir) if out_dir is not None else Path("runs/experiments") / name
    out.mkdir(parents=True, exist_ok=True)
    console = console or Console(width=140)
    seed_list = list(range(seed, seed + seeds))
    runs: dict[int, ExperimentResult] = {}
    bar = ProgressBar(f"{name}: seeds", len(seed_list), console=console, transient=True)
    with bar:
        for s in seed_list:
            run_dir = out if seeds == 1 else out / f"seed-{s}"
            run_dir.mkdir(parents=True, exist_ok=True)
            runs[s] = experiment.run(run_dir, fast=fast, seed=s)
            bar.advance()
    first = runs[seed_list[0]]
    mode = "fast" if fast else "full"
    for s, res in runs.items():
        label = f"{experiment.title} ({mode}" + (f", seed {s})" if seeds > 1 else ")")
        console.print(rich_table(res.table, label))
    measurements = pd.DataFrame(
        [runs[s].measurements for s in seed_list], index=pd.Index(seed_list, name="seed")
    )
    verdicts = verdict_table(claims, measurements, level=level) if claims else pd.DataFrame()
    trials: TrialSet | None = None
    notes = list(first.notes)
    deflated: dict[str, pd.DataFrame] = {}
    backtests = {
        (k if seeds == 1 else f"{k} [seed {s}]"): r
        for s in seed_list
        for k, r in runs[s].backtests.items()
    }
    if backtests:
        reg = open_registry(registry)
        study_name = study or f"experiment/{name}"
        split = "test" if "test" in first.windows else "all"
        params = {
            (k if seeds == 1 else f"{k} [seed {s}]"): {"experiment": name, "seed": s, "fast": fast}
            for s in seed_list
            for k in runs[s].backtests
        }
        trials = record_backtests(
            reg, study_name, "experiment", backtests, split=split, params=params
        )
        label = (
            f"Deflated Sharpe ratio over {trials.n_trials} trial(s) of study {study_name!r} "
            f"on the {split} split"
        )
        deflated["Deflated Sharpe ratio"] = deflated_table(backtests, trials)
        console.print(rich_table(deflated["Deflated Sharpe ratio"], label))
        notes.append(label)
        if split == "test":
            notes.append(note_test_use(study_name, reg.count_trials(study_name, "test")))
    if claims:
        console.print(rich_table(verdict_summary(verdicts), f"{experiment.title}: verdicts"))
        notes.append(
            f"verdicts from {len(seed_list)} seed(s) ({seed_list[0]}..{seed_list[-1]}), "
            f"{level:.0%} confidence intervals of the mean over seeds (paired when a claim "
            "compares two methods)"
        )
    for note in notes:
        console.print(f"- {note}", markup=False, highlight=False)
    verdict_csv = verdicts if claims else first.table
    atomic_write_bytes(out / "table.csv", verdict_csv.to_csv().encode())
    atomic_write_bytes(out / "measurements.csv", measurements.to_csv().encode())
    results = pd.concat({s: r.table for s, r in runs.items()}, names=["seed"])
    atomic_write_bytes(out / "results.csv", results.to_csv().encode())
    windows = pd.DataFrame(
        [(k, str(a)[:19], str(b)[:19]) for k, (a, b) in first.windows.items()],
        columns=["segment", "first", "last"],
    ).set_index("segment")
    tables: dict[str, pd.DataFrame] = {}
    if claims:
        tables["Verdicts"] = verdicts
        tables["Measurements per seed"] = measurements
    tables["Results"] = first.table if seeds == 1 else results
    tables.update({**deflated, **first.extra_tables, "Windows": windows})
    if seeds == 1:
        subtitle = f"experiment {name}, seed {seed}, {mode} run"
    else:
        subtitle = f"experiment {name}, seeds {seed_list[0]}..{seed_list[-1]}, {mode} run"
    if first.backtests:
        write_report(
            first.backtests,
            out / "report.html",
            title=experiment.title,
            subtitle=subtitle,
            extra_tables=tables,
            trials=trials,
            notes=notes,
        )
    else:
        sections = [ReportTable(k, v) for k, v in tables.items()]
        if notes:
            sections.append(ReportNotes("Notes", notes))
        render_report(out / "report.html", experiment.title, sections, subtitle=subtitle)
    return StudyResult(name, verdicts, measurements, runs)


SUMMARY_COLUMNS = ("claim", "seeds", "mean", "ci low", "ci high", "verdict")
"""Columns of the short verdict table printed on the console and in the summary."""


def verdict_summary(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The short form of a verdict table: claim, seeds, mean, CI and verdict."""
    return verdicts.loc[:, list(SUMMARY_COLUMNS)]


def experiment_summary(root: str | Path = "runs/experiments") -> pd.DataFrame:
    """Every registered study's verdicts from its last run under ``root`` (one row per claim).

    Studies without a run are listed with the verdict ``not run``.
    """
    frames = []
    for name in list_experiments():
        path = Path(root) / name / "table.csv"
        experiment = get_experiment(name)
        if path.is_file():
            table = pd.read_csv(path, index_col=0)
            if "verdict" not in table.columns:
                raise DataError(f"{path} holds no verdict table; rerun the study", rule="format")
            table = table.loc[:, list(SUMMARY_COLUMNS)]
        else:
            claims = getattr(experiment, "claims", ())
            table = pd.DataFrame(
                [{"claim": c.text, "verdict": "not run"} for c in claims],
                index=pd.Index([c.key for c in claims], name="key"),
                columns=list(SUMMARY_COLUMNS),
            )
        table.insert(0, "study", name)
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=["study", *SUMMARY_COLUMNS])
    return pd.concat(frames)


__all__ = [
    "SUMMARY_COLUMNS",
    "StudyResult",
    "default_seeds",
    "experiment_summary",
    "rich_table",
    "run_experiment",
    "verdict_summary",
]
