"""Run mining jobs: build the harness from a spec, train in chunks, checkpoint, resume, record.

``run_job(spec, resume=...)`` takes the job's lock, loads the market, splits it, builds the
vocabulary, pool and searcher (``ppo``, ``random`` or ``gp``), and runs chunks of
``chunk_steps`` until the step or time budget is spent. After each chunk the pool is validated
on the valid split; at the first chunk boundary after ``checkpoint_minutes`` a checkpoint is
written atomically (searcher state, pool, RNG states, step counter, elapsed time, run id). With
``resume=True`` the newest good checkpoint is loaded and the run continues exactly where it was:
with a step budget the final pool equals an uninterrupted run's. At the end the pool is saved to
``pool.json`` with train/valid/test metrics, its learning curve (the pool after each chunk, on
training and validation: ``quantrl.jobs.curve``) to ``curve.csv`` and ``curve.png``, and the run
and its alphas go to the SQLite registry; the pool's validation and test IC are recorded in its
trial ledger (kind ``pool``, study = the job's market).

Resuming checks the spec: the checkpoint records the spec's digest and canonical form
(``quantrl.jobs.spec``), and ``resume=True`` on a checkpoint whose digest differs from the spec's
is refused with a JobError listing the changed keys. ``restart=True`` starts over instead: the
old run's files (``checkpoint*``, ``pool.json`` and the curve) are first moved to
``<output_dir>/replaced/`` (which holds only the latest replaced run: an earlier one there is
deleted), so a resume can never pick up the replaced run's checkpoint. Without either flag an
existing checkpoint is an error that names both.

``run_due(folder)`` runs every ``*.toml`` spec of a folder whose schedule is due (see
``quantrl.jobs.spec``) and resumes unfinished runs. Each spec is isolated: one whose file does
not parse, whose registry is damaged or whose run raises is reported as ``failed`` with the
error, and the others still run. Drive it from cron, e.g. every 15 minutes::

    */15 * * * * cd /srv/quantrl && .venv/bin/quantrl jobs run-due jobs/ >> jobs.log 2>&1

or from a systemd timer (``OnCalendar=*:0/15``) running the same command.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quantrl.errors import ConfigError, JobError, QuantRLError
from quantrl.jobs.checkpoint import load_checkpoint, save_checkpoint
from quantrl.jobs.curve import CURVE_FILES, curve_from_state, curve_point, write_curve
from quantrl.jobs.distributed import mine_distributed
from quantrl.jobs.early_stopping import (
    KEEP_RULE,
    best_from_state,
    keep_best,
    record_chunk_trials,
    selection_message,
    track_best,
)
from quantrl.jobs.harness import MiningSetup, build_setup
from quantrl.jobs.ledger import record_pool
from quantrl.jobs.lock import JobLock
from quantrl.jobs.spec import JobSpec, changed_keys, load_spec
from quantrl.jobs.store import Registry
from quantrl.mining.pool_file import checked_origins
from quantrl.progress import ProgressBar

__all__ = [
    "DueOutcome",
    "JobResult",
    "replace_previous_run",
    "run_due",
    "run_job",
]


@dataclass
class JobResult:
    """Summary of a finished (or budget-stopped) run."""

    job: str
    run_id: int
    steps: int
    n_formulas: int
    seconds: float
    formulas: list[str]
    weights: list[float]
    metrics: dict[str, dict[str, float]]
    resumed: bool = False
    curve: list[dict[str, float]] = field(default_factory=list)
    selection: dict[str, Any] | None = None  # which chunk's pool was kept (``[budget] keep``)
    origins: dict[str, str] = field(default_factory=dict)  # ``AlphaPool.origins`` of the pool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return dict(self.__dict__)


def _state(setup: MiningSetup, run_id: int, elapsed: float, status: str) -> dict[str, Any]:
    pool = setup.task.pool
    return {
        "version": 1,
        "job": setup.spec.name,
        "digest": setup.spec.digest,
        "spec": setup.spec.canonical,
        "run_id": run_id,
        "elapsed": elapsed,
        "status": status,
        "n_formulas": setup.task.n_offered,
        "seen": sorted(setup.task.seen),
        "pool": {
            "formulas": pool.formulas,
            "weights": [float(w) for w in pool.weights],
            "origins": dict(pool.origins),
        },
        "searcher": setup.searcher.state_dict(),
        "curve": [dict(p) for p in setup.curve],
        "best": setup.best,
    }


ProgressHook = Callable[[MiningSetup, dict[str, float]], None]


def run_job(
    spec: JobSpec | str | Path,
    *,
    resume: bool = False,
    restart: bool = False,
    progress: bool = False,
    on_chunk: ProgressHook | None = None,
) -> JobResult:
    """Run (or resume) a mining job under its lock; see the module docstring."""
    if not isinstance(spec, JobSpec):
        spec = load_spec(spec)
    spec.output_dir.mkdir(parents=True, exist_ok=True)
    with JobLock(spec.lock_path):
        return _run_locked(
            spec, resume=resume, restart=restart, progress=progress, on_chunk=on_chunk
        )


def _run_locked(
    spec: JobSpec, *, resume: bool, restart: bool, progress: bool, on_chunk: ProgressHook | None
) -> JobResult:
    registry = Registry(spec.registry)
    found = None
    if restart:
        replace_previous_run(spec)
    elif resume:
        found = load_checkpoint(spec.checkpoint_path)
        if found is not None:
            _check_same_spec(spec, found[0])
    elif spec.checkpoint_path.exists():
        raise JobError(
            f"job {spec.name} has a checkpoint in {spec.output_dir}; pass --resume to continue "
            "it or --restart to start over"
        )
    setup = build_setup(spec)
    elapsed = 0.0
    if found is not None:
        state, _ = found
        setup.task.pool.restore(state["pool"]["formulas"], state["pool"]["weights"])
        try:
            setup.task.pool.origins = checked_origins(state["pool"].get("origins"), "checkpoint")
        except ConfigError as exc:
            raise JobError(str(exc)) from None
        setup.searcher.load_state_dict(state["searcher"])
        setup.task.n_offered = int(state.get("n_formulas", 0))
        setup.task.seen = set(state.get("seen", ()))
        setup.curve = curve_from_state(state.get("curve"))
        setup.best = best_from_state(state.get("best"))
        run_id = int(state["run_id"])
        elapsed = float(state["elapsed"])
        if state.get("status") == "finished":
            return _finish(setup, registry, run_id, elapsed, resumed=True)
        if registry.run(run_id) is None:
            run_id = registry.start_run(
                spec.name, spec.method, spec.seed, str(spec.output_dir), spec.digest
            )
        registry.update_run(run_id, status="running", message="resumed")
    else:
        run_id = registry.start_run(
            spec.name, spec.method, spec.seed, str(spec.output_dir), spec.digest
        )
    try:
        elapsed = _train(setup, registry, run_id, elapsed, progress, on_chunk)
    except BaseException as exc:
        registry.update_run(run_id, status="interrupted", message=repr(exc)[:500])
        raise
    return _finish(setup, registry, run_id, elapsed, resumed=found is not None)


def _check_same_spec(spec: JobSpec, state: dict[str, Any]) -> None:
    """JobError unless the checkpoint was written under this spec (same name and digest)."""
    if state.get("job") != spec.name:
        raise JobError(f"checkpoint belongs to job {state.get('job')!r}, not {spec.name!r}")
    if state.get("digest") == spec.digest:
        return
    recorded = state.get("spec")
    if isinstance(recorded, str) and recorded:
        changes = changed_keys(recorded, spec.canonical)
        listed = "; ".join(changes[:8]) + (
            f" (+{len(changes) - 8} more)" if len(changes) > 8 else ""
        )
    else:
        listed = "the checkpoint does not record its spec"
    raise JobError(
        f"job {spec.name}: the spec changed since the checkpoint in {spec.output_dir} ({listed}); "
        "--resume continues only an unchanged spec. Restore the spec, or pass --restart to start "
        "over (the old checkpoint is moved to replaced/)"
    )


def replace_previous_run(spec: JobSpec) -> Path | None:
    """Move the job's checkpoint files, pool and learning curve to ``<output_dir>/replaced/``
    (None: nothing to move).

    The folder keeps only the latest replaced run; its previous content is deleted first.
    """
    out = spec.output_dir
    stem = spec.checkpoint_path.stem
    names = (
        sorted(
            p
            for p in out.glob("*")
            if p.name.startswith((stem, f".{stem}")) or p == spec.pool_path or p.name in CURVE_FILES
        )
        if out.is_dir()
        else []
    )
    if not names:
        return None
    target = out / "replaced"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for p in names:
        p.rename(target / p.name)
    return target


def _train(
    setup: MiningSetup,
    registry: Registry,
    run_id: int,
    elapsed: float,
    progress: bool,
    on_chunk: ProgressHook | None,
) -> float:
    spec, searcher, task = setup.spec, setup.searcher, setup.task
    started = time.monotonic() - elapsed
    deadline = started + spec.minutes * 60.0 if spec.minutes > 0 else None
    last_ckpt = time.monotonic()
    total = spec.steps if spec.steps > 0 else None
    bar = ProgressBar(spec.name, total, completed=searcher.steps_done) if progress else None
    try:
        while True:
            left = (spec.steps - searcher.steps_done) if spec.steps > 0 else spec.chunk_steps
            if left <= 0 or (deadline is not None and time.monotonic() >= deadline):
                break
            hook = (lambda: bar.update(searcher.steps_done)) if bar else None
            searcher.run_chunk(min(spec.chunk_steps, left), deadline=deadline, on_step=hook)
            valid = setup.pool_metrics(("valid",))["valid"]
            info = {
                "steps": float(searcher.steps_done),
                "formulas": float(task.n_offered),
                "pool": float(len(task.pool)),
                "train_ic": task.pool.objective,
                "valid_ic": valid["ic"],
                "valid_rank_ic": valid["rank_ic"],
            }
            setup.curve.append(curve_point(info))
            if spec.keep == KEEP_RULE:
                track_best(setup, info)
            if bar:
                bar.update(searcher.steps_done, info=_chunk_info(info))
            if on_chunk is not None:
                on_chunk(setup, info)
            now = time.monotonic()
            if now - last_ckpt >= spec.checkpoint_minutes * 60.0:
                save_checkpoint(
                    spec.checkpoint_path, _state(setup, run_id, now - started, "running")
                )
                last_ckpt = now
                registry.update_run(
                    run_id,
                    steps=searcher.steps_done,
                    n_formulas=task.n_offered,
                    valid_ic=_f(valid["ic"]),
                    valid_rank_ic=_f(valid["rank_ic"]),
                )
    finally:
        if bar:
            bar.close()
    return time.monotonic() - started


def _finish(
    setup: MiningSetup, registry: Registry, run_id: int, elapsed: float, *, resumed: bool
) -> JobResult:
    spec, pool = setup.spec, setup.task.pool
    selection = keep_best(setup) if spec.keep == KEEP_RULE else None
    metrics = setup.pool_metrics() if len(pool) else {}
    pool.save(spec.pool_path, metrics, selection=selection)
    kept_at = None if selection is None else selection.get("formulas")
    title = f"mining job {spec.name} ({spec.method})"
    write_curve(setup.curve, spec.output_dir, title, kept_at=kept_at)
    save_checkpoint(spec.checkpoint_path, _state(setup, run_id, elapsed, "finished"))
    registry.record_alphas(run_id, spec.name, setup.member_metrics() if len(pool) else [])
    values: dict[str, Any] = {
        "status": "finished",
        "finished": time.time(),
        "steps": setup.searcher.steps_done,
        "n_formulas": setup.task.n_offered,
        "message": "" if selection is None else selection_message(selection),
    }
    for split, ms in metrics.items():
        for k, v in ms.items():
            values[f"{split}_{k}"] = _f(v)
    registry.update_run(run_id, **values)
    if metrics:
        record_pool(
            registry,
            spec.market,
            spec.name,
            metrics,
            {"valid": setup.valid, "test": setup.test},
            setup.labels,
            {"run_id": run_id, "method": spec.method, "seed": spec.seed, "formulas": pool.formulas},
        )
    if selection is not None:
        record_chunk_trials(registry, setup, run_id, selection)
    return JobResult(
        spec.name,
        run_id,
        setup.searcher.steps_done,
        setup.task.n_offered,
        elapsed,
        pool.formulas,
        [float(w) for w in pool.weights],
        metrics,
        resumed,
        [dict(p) for p in setup.curve],
        selection,
        dict(pool.origins),
    )


def _f(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _chunk_info(info: dict[str, float]) -> str:
    """The progress bar's text after a chunk: pool size, train objective and validation IC."""
    return (
        f"pool {int(info['pool'])}  train IC {info['train_ic']:.4f}  "
        f"valid IC {info['valid_ic']:.4f}  RankIC {info['valid_rank_ic']:.4f}"
    )


@dataclass
class DueOutcome:
    """What ``run_due`` did with one spec."""

    spec: str
    job: str
    action: str  # ran, resumed, skipped, locked, failed
    detail: str = ""


def run_due(
    folder: str | Path,
    *,
    now: datetime | None = None,
    progress: bool = False,
    dry_run: bool = False,
) -> list[DueOutcome]:
    """Run every spec in ``folder`` whose schedule is due (unfinished runs are resumed).

    One spec's failure (unreadable spec, damaged registry, a run that raises) becomes a
    ``failed`` outcome with the error's text; the other specs still run.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder of job specs")
    moment = now or datetime.now(UTC)
    outcomes: list[DueOutcome] = []
    for path in sorted(root.glob("*.toml")):
        job = "?"
        try:
            spec = load_spec(path)
            job = spec.name
            outcomes.append(_run_one_due(path, spec, moment, progress, dry_run))
        except QuantRLError as exc:
            action = "locked" if "already running" in str(exc) else "failed"
            outcomes.append(DueOutcome(str(path), job, action, str(exc)))
        except Exception as exc:  # one failing job must not stop the others
            outcomes.append(DueOutcome(str(path), job, "failed", f"{type(exc).__name__}: {exc}"))
    return outcomes


def _run_one_due(
    path: Path, spec: JobSpec, moment: datetime, progress: bool, dry_run: bool
) -> DueOutcome:
    last = Registry(spec.registry).last_run(spec.name)
    unfinished = last is not None and last["status"] != "finished"
    last_start = datetime.fromtimestamp(float(last["started"]), UTC) if last else None
    if not unfinished and not spec.schedule.is_due(moment, last_start):
        return DueOutcome(str(path), spec.name, "skipped", spec.schedule.text)
    resume = unfinished and spec.checkpoint_path.exists()
    if dry_run:
        return DueOutcome(str(path), spec.name, "due", "resume" if resume else "")
    if spec.seeds:  # independent miners merged on this machine
        merged = mine_distributed(spec)
        return DueOutcome(str(path), spec.name, "ran", _summary(merged.run_id, merged.metrics))
    result = run_job(spec, resume=resume, restart=not resume, progress=progress)
    action = "resumed" if resume else "ran"
    return DueOutcome(str(path), spec.name, action, _summary(result.run_id, result.metrics))


def _summary(run_id: int, metrics: dict[str, dict[str, float]]) -> str:
    valid = metrics.get("valid", {}).get("rank_ic", math.nan)
    test = metrics.get("test", {}).get("rank_ic", math.nan)
    return f"run {run_id}: valid RankIC {valid:.4f}, test RankIC {test:.4f}"
