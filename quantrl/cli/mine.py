"""``quantrl mine``, ``quantrl jobs ...`` and ``quantrl alpha top``: thin commands over quantrl.jobs.

Wire into the main app with::

    app.command("mine")(mine_command)
    app.add_typer(jobs_app, name="jobs")
    alpha_app.command("top")(alpha_top_command)
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from quantrl.errors import ConfigError
from quantrl.jobs.curve import CURVE_FILES
from quantrl.jobs.distributed import mine_distributed
from quantrl.jobs.early_stopping import selection_message
from quantrl.jobs.ledger import REGISTRY_ENV
from quantrl.jobs.runner import run_due, run_job
from quantrl.jobs.spec import load_spec
from quantrl.jobs.store import Registry

__all__ = ["REGISTRY_ENV", "alpha_top_command", "jobs_app", "mine_command"]

jobs_app = typer.Typer(
    help="Scheduled mining jobs: list runs, show one, run the due specs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "-" if not math.isfinite(v) else f"{v:.{digits}f}"


def _when(ts: Any) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M")


def _registry_path(registry: Path | None, spec: Path | None = None) -> Path:
    if registry is not None:
        return registry
    if spec is not None:
        return load_spec(spec).registry
    env = os.environ.get(REGISTRY_ENV)
    if env:
        return Path(env)
    raise ConfigError(
        f"no registry given: pass --registry PATH, --spec JOB.toml or set ${REGISTRY_ENV}"
    )


def mine_command(
    spec: Annotated[Path, typer.Argument(help="job spec (TOML)")],
    resume: Annotated[
        bool,
        typer.Option("--resume", help="continue from the checkpoint (refused if the spec changed)"),
    ] = False,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="start over; the old checkpoint and pool move to <output_dir>/replaced/",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    executor: Annotated[
        str | None,
        typer.Option(help="run independent miners on 'local' processes or 'ray' and merge them"),
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster: 'auto' or 'ray://host:10001' (ray only)")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="concurrent miners")] = None,
    seeds: Annotated[
        str | None, typer.Option(help="comma-separated miner seeds (default: the spec's)")
    ] = None,
) -> None:
    """Mine formula alphas as the job spec says (checkpointed; --resume after a kill).

    --resume continues only a checkpoint written under the same spec (its digest, see
    quantrl.jobs.spec); a changed spec is refused with the changed keys listed, and --restart
    starts over instead. With --executor/--seeds (or a [distributed] table with seeds in the spec) independent miners
    run in parallel and their alphas merge into one pool on this machine.
    """

    console = Console()
    job = load_spec(spec)
    seed_list = [int(s) for s in seeds.split(",") if s.strip()] if seeds else None
    if executor or seed_list or job.seeds or address or workers:
        merged = mine_distributed(
            job,
            executor,
            workers=workers,
            address=address,
            seeds=seed_list,
            restart=restart,
            progress=not quiet,
        )
        _print_pool(console, f"job {merged.job} (run {merged.run_id})", merged.metrics, merged)
        console.print(
            f"{len(merged.miners)} miners on {merged.executor} x{merged.workers} "
            f"({merged.reused} reused), {merged.seconds:.0f} s"
        )
        return
    result = run_job(job, resume=resume, restart=restart, progress=not quiet)
    _print_pool(console, f"job {result.job} (run {result.run_id})", result.metrics, result)
    console.print(
        f"{result.steps} steps, {result.n_formulas} formulas, {result.seconds:.0f} s"
        + (" (resumed)" if result.resumed else "")
    )
    _print_selection(console, result.selection)
    _print_curve(console, job.output_dir)


def _print_selection(console: Console, selection: dict[str, Any] | None) -> None:
    """Which chunk's pool an early-stopping job kept (its validation figures are chosen on)."""
    if selection is not None:
        console.print(f"{selection_message(selection)}; judge it on the test split", soft_wrap=True)


def _print_curve(console: Console, folder: Path) -> None:
    """The path of a job folder's learning-curve figure, when the folder holds one."""
    figure = folder / CURVE_FILES[1]
    if figure.is_file():
        console.print(f"learning curve: {figure.resolve()}", soft_wrap=True)


def _print_pool(console: Console, title: str, metrics: dict[str, Any], result: Any) -> None:
    table = Table(title=title)
    table.add_column("split")
    for name in ("IC", "RankIC", "ICIR", "RankICIR"):
        table.add_column(name, justify="right")
    for split, m in metrics.items():
        table.add_row(
            split, _fmt(m["ic"]), _fmt(m["rank_ic"]), _fmt(m["icir"], 3), _fmt(m["rank_icir"], 3)
        )
    console.print(table)
    for f, w in zip(result.formulas, result.weights, strict=True):
        console.print(f"  {w:+.4f}  {f}", soft_wrap=True)
        if f in result.origins:  # added in a simpler form
            console.print(f"           offered as {result.origins[f]}", soft_wrap=True)


@jobs_app.command("list")
def jobs_list(
    registry: Annotated[Path | None, typer.Option(help="registry SQLite file")] = None,
    spec: Annotated[Path | None, typer.Option(help="take the registry from this spec")] = None,
    job: Annotated[str | None, typer.Option(help="only this job")] = None,
    limit: Annotated[int, typer.Option(help="most recent runs")] = 20,
) -> None:
    """List recent runs with status and pool metrics."""

    reg = Registry(_registry_path(registry, spec))
    table = Table(title=f"runs in {reg.path}")
    for col in (
        "id",
        "job",
        "method",
        "seed",
        "status",
        "started",
        "steps",
        "formulas",
        "valid IC",
        "test IC",
        "test RankIC",
    ):
        table.add_column(col, justify="right" if col not in ("job", "method", "status") else "left")
    for r in reg.runs(job, limit):
        table.add_row(
            str(r["id"]),
            r["job"],
            r["method"],
            str(r["seed"]),
            r["status"],
            _when(r["started"]),
            str(r["steps"]),
            str(r["n_formulas"]),
            _fmt(r["valid_ic"]),
            _fmt(r["test_ic"]),
            _fmt(r["test_rank_ic"]),
        )
    Console().print(table)


@jobs_app.command("show")
def jobs_show(
    run_id: Annotated[int, typer.Argument(help="run id")],
    registry: Annotated[Path | None, typer.Option(help="registry SQLite file")] = None,
    spec: Annotated[Path | None, typer.Option(help="take the registry from this spec")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show one run and its alphas."""

    reg = Registry(_registry_path(registry, spec))
    run = reg.run(run_id)
    if run is None:
        raise ConfigError(f"no run {run_id} in {reg.path}")
    alphas = reg.alphas(run_id)
    console = Console()
    if as_json:
        console.print_json(json.dumps({"run": run, "alphas": alphas}, default=str))
        return
    console.print(
        f"[bold]run {run['id']}[/] job {run['job']} ({run['method']}, seed "
        f"{run['seed']}) {run['status']}, {run['steps']} steps, started "
        f"{_when(run['started'])}, finished {_when(run['finished'])}"
    )
    table = Table()
    table.add_column("formula", overflow="fold")
    for col in ("weight", "train IC", "valid IC", "test IC", "test RankIC"):
        table.add_column(col, justify="right")
    for a in alphas:
        table.add_row(
            a["formula"],
            _fmt(a["weight"]),
            _fmt(a["train_ic"]),
            _fmt(a["valid_ic"]),
            _fmt(a["test_ic"]),
            _fmt(a["test_rank_ic"]),
        )
    console.print(table)
    if run.get("output_dir"):
        _print_curve(console, Path(run["output_dir"]))


@jobs_app.command("run-due")
def jobs_run_due(
    folder: Annotated[Path, typer.Argument(help="folder of job specs (*.toml)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only say what is due")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bars")] = False,
) -> None:
    """Run the specs whose schedule is due (for cron or a systemd timer); exit 1 if any failed.

    Each spec runs on its own: one that fails (bad spec, damaged registry, a run that raises) is
    listed as failed with its error and the others still run.
    """

    outcomes = run_due(folder, progress=not quiet, dry_run=dry_run)
    console = Console()
    table = Table(title=f"job specs in {folder}")
    for col in ("spec", "job", "outcome", "detail"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        style = "red" if o.action == "failed" else ""
        table.add_row(
            Path(o.spec).name, o.job, f"[{style}]{o.action}[/]" if style else o.action, o.detail
        )
    console.print(table)
    counts = Counter(o.action for o in outcomes)
    console.print(", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "no specs")
    if counts.get("failed"):
        raise typer.Exit(1)


def alpha_top_command(
    metric: Annotated[str, typer.Option(help="ic, rank_ic, icir or rank_icir")] = "rank_ic",
    split: Annotated[
        str,
        typer.Option(help="split whose metric ranks the alphas: train, valid (default) or test"),
    ] = "valid",
    limit: Annotated[int, typer.Option(help="how many")] = 20,
    registry: Annotated[Path | None, typer.Option(help="registry SQLite file")] = None,
    spec: Annotated[Path | None, typer.Option(help="take the registry from this spec")] = None,
    job: Annotated[str | None, typer.Option(help="only this job")] = None,
) -> None:
    """Best mined alphas across runs by |metric| on one split (validation unless --split test)."""

    reg = Registry(_registry_path(registry, spec))
    rows = reg.top_alphas(metric, split, limit, job)
    table = Table(title=f"top alphas by |{split} {metric}| (ranked on the {split} split)")
    table.add_column("formula", overflow="fold")
    shown = [f"{split}_{metric}"] + [
        c for c in ("train_ic", "valid_ic", "valid_rank_ic", "test_ic", "test_rank_ic")
        if c != f"{split}_{metric}"
    ]  # fmt: skip
    for col in ("job", "run", *shown):
        table.add_column(col.replace("_rank_ic", " RankIC").replace("_", " "), justify="right")
    for r in rows:
        table.add_row(r["formula"], r["job"], str(r["run_id"]), *(_fmt(r[c]) for c in shown))
    console = Console()
    console.print(table)
    console.print(f"ranked by {metric} on the {split} split ({len(rows)} alphas)")
