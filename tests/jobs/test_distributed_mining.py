"""Distributed mining on a local Ray cluster: a killed worker, no duplicates, same pool as local."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from quantrl.executors import LocalExecutor, RayExecutor
from quantrl.jobs.distributed import mine_distributed
from quantrl.jobs.spec import spec_from_dict
from quantrl.jobs.store import Registry
from strategies import get_strategy

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster() -> Any:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=150 * 2**20,
        configure_logging=False,
    )
    yield ray
    ray.shutdown()


def _spec(tmp: Path, name: str) -> Any:
    return spec_from_dict(
        {
            "job": {"name": name, "seed": 0, "output_dir": str(tmp / name)},
            "data": {"market": "sp500", "max_symbols": 30},
            "search": {"method": "random"},
            "pool": {"capacity": 5},
            "budget": {"steps": 2500, "chunk_steps": 500},
            "distributed": {"seeds": [0, 1, 2]},
        },
        base=tmp,
    )


def _busy_ray_workers() -> list[int]:
    """PIDs of Ray worker processes currently executing a task (Ray sets their title)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True)
    pids = []
    for line in out.stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.startswith("ray::_call_ray"):
            pids.append(int(pid))
    return pids


def test_killed_worker_is_retried_and_the_pool_equals_the_local_one(
    ray_cluster: Any, tmp_path: Path
) -> None:
    local = mine_distributed(_spec(tmp_path, "local"), LocalExecutor(1))
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            busy = _busy_ray_workers()
            if busy:
                time.sleep(0.5)  # let it get into the mining loop
                os.kill(busy[0], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    spec = _spec(tmp_path, "ray")
    result = mine_distributed(spec, RayExecutor(workers=2, max_retries=3))
    thread.join(timeout=5)
    assert killed, "no busy Ray worker was seen to kill"
    assert killed[0] not in {m["worker_pid"] for m in result.miners}  # its task ran again
    assert [m["seed"] for m in result.miners] == [0, 1, 2]
    assert result.formulas == local.formulas
    assert result.weights == pytest.approx(local.weights, rel=1e-12, abs=1e-12)
    rows = Registry(spec.registry).alphas(result.run_id)
    formulas = [r["formula"] for r in rows]
    assert len(formulas) == len(set(formulas))  # every candidate recorded once
    assert {r["formula"] for r in rows if r["in_pool"]} == set(result.formulas)
    assert len(list((spec.output_dir / "miners").glob("*.json"))) == 3


def test_a_restarted_driver_reuses_finished_miners(ray_cluster: Any, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "again")
    first = mine_distributed(spec, RayExecutor(workers=2))
    (spec.output_dir / "miners" / "001-seed1.json").unlink()  # as if the driver died before it
    second = mine_distributed(spec, RayExecutor(workers=2))
    assert second.reused == 2
    assert second.formulas == first.formulas


def test_strategy_sweep_on_ray_equals_local(ray_cluster: Any, tmp_path: Path) -> None:
    from quantrl.jobs.sweep import load_sweep, run_sweep

    spec = load_sweep(
        {
            "sweep": {"name": "ray-mom", "output_dir": str(tmp_path / "s")},
            "grid": {"strategy": ["momentum"], "lookback": [60, 126, 252]},
        }
    )
    on_ray = run_sweep(spec, RayExecutor(workers=2), strategy_factory=get_strategy)
    local = run_sweep(spec, LocalExecutor(1), strategy_factory=get_strategy)
    assert on_ray.rows == local.rows
