"""Distributed mining speed-up: the same job with 1 and 2 workers, local processes and Ray.

Four independent masked-random-search miners (seeds 0..3, a fixed step budget each, so the
work is identical and deterministic) on the bundled S&P 500 panel, merged into one pool of 10 on
the driver. Each configuration runs once after a warm-up run that starts the workers (process
spawn, imports, numba cache loads, Ray start-up are excluded from the timing; on a cluster they
are paid once per session). Prints wall time and speed-up over one worker, the same for the
mining phase alone (the map over miners; the rest is the driver merging the candidates and
scoring each one on three splits for the registry, which runs on one core), and whether the
merged pool equals the one-worker pool.

Usage: ``python -m benchmarks.bench_distributed [--steps N] [--miners K] [--executors local,ray]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.harness import print_table


def _spec(root: Path, name: str, steps: int, max_symbols: int) -> object:
    from quantrl.jobs.spec import spec_from_dict

    data: dict = {"market": "sp500"}
    if max_symbols:
        data["max_symbols"] = max_symbols
    return spec_from_dict(
        {
            "job": {"name": name, "output_dir": str(root / name)},
            "data": data,
            "search": {"method": "random"},
            "pool": {"capacity": 10},
            "budget": {"steps": steps, "chunk_steps": max(steps // 4, 1)},
        },
        base=root,
    )


def main() -> None:
    """Run the configurations and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000, help="tokens per miner")
    ap.add_argument("--miners", type=int, default=4)
    ap.add_argument("--max-symbols", type=int, default=0)
    ap.add_argument("--executors", default="local,ray")
    args = ap.parse_args()

    from quantrl.executors import LocalExecutor, RayExecutor
    from quantrl.jobs.distributed import mine_distributed

    seeds = list(range(args.miners))
    print(
        f"cpu cores: {os.cpu_count()}; {args.miners} random-search miners x {args.steps} steps, "
        "S&P 500, pool of 10"
    )
    rows = []
    reference = None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for kind in args.executors.split(","):
            base_time = None
            base_mining = None
            for workers in (1, 2):
                if kind == "ray":
                    import ray

                    if ray.is_initialized():
                        ray.shutdown()
                    executor = RayExecutor(workers=workers)
                else:
                    executor = LocalExecutor(workers) if workers > 1 else LocalExecutor(1)
                name = f"{kind}-{workers}"
                # warm-up: start the workers (imports, compiled-kernel caches) on a tiny job
                mine_distributed(
                    _spec(root, name + "-warm", 60, 10), executor, seeds=seeds[:workers]
                )
                t0 = time.perf_counter()
                result = mine_distributed(
                    _spec(root, name, args.steps, args.max_symbols), executor, seeds=seeds
                )
                seconds = time.perf_counter() - t0
                executor.close()
                if reference is None:
                    reference = result.formulas
                base_time = base_time or seconds
                base_mining = base_mining or result.mining_seconds
                rows.append(
                    {
                        "executor": kind,
                        "workers": workers,
                        "seconds": seconds,
                        "speed_up": base_time / seconds,
                        "mining_s": result.mining_seconds,
                        "mining_speed_up": base_mining / result.mining_seconds,
                        "formulas": sum(m["n_formulas"] for m in result.miners),
                        "pool": len(result.formulas),
                        "same_pool": result.formulas == reference,
                    }
                )
    print_table("Distributed mining: 1 vs 2 workers", rows)


if __name__ == "__main__":
    main()
