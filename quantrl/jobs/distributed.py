"""Distributed mining: independent miners on workers, one merged pool and registry on the driver.

``mine_distributed(spec, executor)`` plans one miner per seed (optionally cycling through
operator sets), sends the training and validation panels to the workers once (see
``quantrl.executors.executor``), and lets each worker run the job's searcher for the job's
step budget on its own pool. Workers only compute and return their pool's formulas; the driver
alone writes: each miner's result goes to ``<output_dir>/miners/`` atomically as it arrives (a
driver restarted after a crash reruns only the miners without a result), then the candidates
are offered to one pool of the job's capacity in miner order, and the run and its alphas are
recorded in the job's SQLite registry. The merge order does not depend on which worker finished
first, and each miner is deterministic in its seed, so the same spec and seeds give the same pool
with any executor and any number of workers. A worker that dies is retried by the executor; its
result is only counted once because nothing is recorded until the driver receives it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantrl.alpha.engine import EvalCache
from quantrl.alpha.parser import parse
from quantrl.data.cache import atomic_write_bytes
from quantrl.errors import ConfigError
from quantrl.executors.executor import Executor, make_executor
from quantrl.jobs.harness import alpha_row, build_harness, load_splits, make_pool
from quantrl.jobs.ledger import record_pool
from quantrl.jobs.lock import JobLock
from quantrl.jobs.spec import JobSpec, load_spec
from quantrl.jobs.store import Registry
from quantrl.mining.pool import AlphaPool
from quantrl.mining.pool_file import checked_origins
from quantrl.progress import ProgressBar

__all__ = ["DistributedResult", "MinerTask", "mine_distributed", "plan_miners", "run_miner"]


@dataclass(frozen=True)
class MinerTask:
    """One independent miner: its position, seed, method and operator set."""

    index: int
    seed: int
    method: str
    operators: tuple[str, ...]

    @property
    def key(self) -> str:
        """File stem of the miner's result."""
        return f"{self.index:03d}-seed{self.seed}"


def plan_miners(
    spec: JobSpec,
    seeds: list[int] | tuple[int, ...],
    operator_sets: list[tuple[str, ...]] | tuple[tuple[str, ...], ...] = (),
) -> list[MinerTask]:
    """One miner per seed; operator sets (if any) are assigned round-robin."""
    if not seeds:
        raise ConfigError("distributed mining needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct, got {list(seeds)}")
    sets = [tuple(s) for s in operator_sets] or [tuple(spec.operators)]
    return [
        MinerTask(i, int(seed), spec.method, sets[i % len(sets)]) for i, seed in enumerate(seeds)
    ]


def run_miner(shared: dict[str, Any], task: MinerTask) -> dict[str, Any]:
    """Worker side: mine on the shared panels for the spec's budget; returns the miner's pool."""

    spec: JobSpec = shared["spec"]
    start = time.monotonic()
    _, mining, searcher = build_harness(
        spec,
        shared["train"],
        shared["valid"],
        shared["labels"],
        seed=task.seed,
        method=task.method,
        operators=task.operators,
    )
    deadline = start + spec.minutes * 60.0 if spec.minutes > 0 else None
    while True:
        left = spec.steps - searcher.steps_done if spec.steps > 0 else spec.chunk_steps
        if left <= 0 or (deadline is not None and time.monotonic() >= deadline):
            break
        searcher.run_chunk(min(spec.chunk_steps, left), deadline=deadline)
    pool = mining.pool
    return {
        "index": task.index,
        "seed": task.seed,
        "method": task.method,
        "operators": list(task.operators),
        "formulas": pool.formulas,
        "weights": [float(w) for w in pool.weights],
        "origins": dict(pool.origins),
        "train_objective": float(pool.objective),
        "steps": int(searcher.steps_done),
        "n_formulas": int(mining.n_offered),
        "seconds": time.monotonic() - start,
        "worker_pid": os.getpid(),
        "digest": spec.digest,
    }


@dataclass
class DistributedResult:
    """The merged pool of a distributed mining run and what each miner contributed."""

    job: str
    run_id: int
    executor: str
    workers: int
    formulas: list[str]
    weights: list[float]
    metrics: dict[str, dict[str, float]]
    miners: list[dict[str, Any]] = field(default_factory=list)
    reused: int = 0
    seconds: float = 0.0
    mining_seconds: float = 0.0
    origins: dict[str, str] = field(default_factory=dict)  # ``AlphaPool.origins`` of the pool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return dict(self.__dict__)


def _read_result(path: Path, digest: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing or torn: the miner runs again
    return data if data.get("digest") == digest else None


def mine_distributed(
    spec: JobSpec | str | Path,
    executor: Executor | str | None = None,
    *,
    workers: int | None = None,
    address: str | None = None,
    seeds: list[int] | None = None,
    operator_sets: list[tuple[str, ...]] | None = None,
    restart: bool = False,
    progress: bool = False,
) -> DistributedResult:
    """Run independent miners on ``executor`` and merge their alphas into one pool (driver only).

    ``executor`` is an executor or its name (``local`` / ``ray``, built with ``workers`` and
    ``address``); default: the spec's ``[distributed]`` settings. ``seeds`` defaults to
    ``spec.seeds`` or ``[spec.seed]``; ``operator_sets`` to ``spec.operator_sets``. Results of
    miners that already finished (same spec digest) are reused unless ``restart``. ``progress``
    shows a bar of finished miners with the best training objective so far.
    """
    if not isinstance(spec, JobSpec):
        spec = load_spec(spec)
    owned = not hasattr(executor, "map")
    if owned:
        executor = make_executor(
            str(executor or spec.executor),
            workers=workers or spec.workers,
            address=address if address is not None else (spec.address or None),
        )
    seeds = list(seeds if seeds is not None else (spec.seeds or (spec.seed,)))
    plan = plan_miners(spec, seeds, operator_sets or spec.operator_sets)
    spec.output_dir.mkdir(parents=True, exist_ok=True)
    try:
        with JobLock(spec.lock_path):
            return _mine_locked(spec, executor, plan, restart, progress)  # type: ignore[arg-type]
    finally:
        if owned:
            executor.close()  # type: ignore[union-attr]


def _mine_locked(
    spec: JobSpec, executor: Executor, plan: list[MinerTask], restart: bool, progress: bool
) -> DistributedResult:

    started = time.monotonic()
    folder = spec.output_dir / "miners"
    folder.mkdir(exist_ok=True)
    registry = Registry(spec.registry)
    method = f"{spec.method} x{len(plan)} ({executor.kind})"
    run_id = registry.start_run(spec.name, method, plan[0].seed, str(spec.output_dir), spec.digest)
    train, valid, test, labels = load_splits(spec)
    results: dict[int, dict[str, Any]] = {}
    if not restart:
        for task in plan:
            found = _read_result(folder / f"{task.key}.json", spec.digest)
            if found is not None:
                results[task.index] = found
    reused = len(results)
    todo = [t for t in plan if t.index not in results]
    shared = {"spec": spec, "train": train, "valid": valid, "labels": labels}
    bar = ProgressBar(f"{spec.name} miners", len(plan), completed=reused) if progress else None
    map_start = time.monotonic()
    try:
        for _, result in executor.map(run_miner, todo, shared):
            task = plan[int(result["index"])]
            atomic_write_bytes(folder / f"{task.key}.json", json.dumps(result, indent=1).encode())
            results[task.index] = result
            registry.update_run(run_id, message=f"{len(results)}/{len(plan)} miners done")
            if bar is not None:
                best = max(float(r["train_objective"]) for r in results.values())
                bar.update(len(results), info=f"best train {best:.4f}")
    except BaseException as exc:
        registry.update_run(run_id, status="interrupted", message=repr(exc)[:500])
        raise
    finally:
        if bar is not None:
            bar.close()
    mining_seconds = time.monotonic() - map_start
    miners = [results[t.index] for t in plan]
    pool = merge_pools(spec, train, valid, labels, miners)
    panels = {"train": train, "valid": valid, "test": test}
    caches = {s: EvalCache(max_bytes=256 << 20) for s in panels}  # shared by metrics and rows
    metrics = {s: pool.evaluate_on(p, labels[s], cache=caches[s]) for s, p in panels.items()}
    pool.save(spec.pool_path, metrics)
    _record(registry, run_id, spec, pool, miners, metrics, panels, labels, caches)
    return DistributedResult(
        spec.name,
        run_id,
        executor.kind,
        executor.workers,
        pool.formulas,
        [float(w) for w in pool.weights],
        metrics,
        miners,
        reused,
        time.monotonic() - started,
        mining_seconds,
        dict(pool.origins),
    )


def merge_pools(
    spec: JobSpec, train: Any, valid: Any, labels: dict[str, Any], miners: list[dict[str, Any]]
) -> AlphaPool:
    """Offer every miner's formulas, in miner order, to one pool built as the job's pool is; a
    member a miner had added in a simpler form keeps the formula it was offered as."""

    pool = make_pool(spec, train, valid, labels)
    origins: dict[str, str] = {}
    for result in miners:
        for formula in result["formulas"]:
            pool.try_add(formula)
        origins = checked_origins(result.get("origins"), "miner result") | origins
    pool.origins = {f: origins[f] for f in pool.formulas if f in origins}
    return pool


def _record(
    registry: Registry,
    run_id: int,
    spec: JobSpec,
    pool: AlphaPool,
    miners: list[dict[str, Any]],
    metrics: dict[str, dict[str, float]],
    panels: dict[str, Any],
    labels: dict[str, Any],
    caches: dict[str, EvalCache],
) -> None:
    """Every distinct candidate once, with its metrics and whether it made the merged pool."""

    weights = dict(zip(pool.formulas, pool.weights, strict=True))
    seen: dict[str, None] = {}
    for result in miners:
        for formula in result["formulas"]:
            seen.setdefault(str(parse(formula)), None)
    rows = [
        alpha_row(f, float(weights.get(f, 0.0)), f in weights, panels, labels, caches) for f in seen
    ]
    registry.record_alphas(run_id, spec.name, rows)
    values: dict[str, Any] = {
        "status": "finished",
        "finished": time.time(),
        "steps": sum(int(m["steps"]) for m in miners),
        "n_formulas": sum(int(m["n_formulas"]) for m in miners),
        "message": f"{len(miners)} miners merged",
    }
    for split, ms in metrics.items():
        for k, v in ms.items():
            values[f"{split}_{k}"] = float(v) if v == v else None
    registry.update_run(run_id, **values)
    if metrics:
        params = {"run_id": run_id, "method": spec.method, "miners": len(miners)}
        record_pool(
            registry,
            spec.market,
            spec.name,
            metrics,
            {s: panels[s] for s in ("valid", "test") if s in panels},
            labels,
            params | {"formulas": pool.formulas},
        )
