"""Backtest benchmarks A1-A3 (and D from ``workload_stats``): quantrl against vectorbt 1.2.

Same inputs, same process. Each timing is one warm-up call then the median of the repeats; the
ratio is ``peer_time / quantrl_time`` (higher is better). Peak memory is reported two ways:
``py_MB`` (tracemalloc: Python/numpy allocations only, numba's allocations are invisible to it)
and ``rss_MB`` (growth of the resident-set high-water mark in a fresh process, which sees all).

Workloads (see BENCHMARKS.md):
  A1  rebalance to Dirichlet target weights, 30 assets x 4,000 bars, fees 0.001, cash 1e6
  A2  the same with 500 assets x 5,000 bars
  A3  MA-crossover grid, fast 2..51 x slow 10..109 (5,000 combos), 1 asset x 10,000 bars;
      vectorbt runs a reduced grid (fast 2..51 x slow 10..19, 500 combos) and the ratio compares
      time per combination
Both sides trade at the close of the decision bar (quantrl ``lag=0``), which is what vectorbt does.

Usage: ``python -m benchmarks.bench_backtest [--quick] [--repeats N]``; ``--quick`` shrinks every
workload for a smoke run.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import median_time, peak_memory, print_table
from benchmarks.inputs import make_prices, make_weights


def _read_status(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def rss_peak_subprocess(workload: str, side: str, quick: bool) -> float:
    """Peak resident memory (MiB) a workload adds, measured in a fresh interpreter.

    The child runs the call once on the small (--quick) inputs so that everything is compiled and
    imported, builds the real inputs, notes its resident set, runs the call and reports how far
    the high-water mark rose above that. This sees every allocation, numba's included
    (tracemalloc only sees Python's).
    """
    cmd = [sys.executable, "-m", "benchmarks.bench_backtest", "--rss", workload, side]
    if quick:
        cmd.append("--quick")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


def _rss_child(workload: str, side: str, quick: bool) -> None:
    _calls(workload, True)[side]()  # compile and import everything on the small inputs
    fn = _calls(workload, quick)[side]
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the high-water mark to the current resident set
    except OSError:
        pass
    base = _read_status("VmRSS:")
    fn()
    print(max(_read_status("VmHWM:") - base, 0) / 2**20)


def _mb(n_bytes: float) -> float:
    return n_bytes / 2**20


SIZES = {
    # id: (n_bars, n_assets, seed) full, quick
    "A1": ((4000, 30, 1), (400, 10, 1)),
    "A2": ((5000, 500, 2), (500, 50, 2)),
}
GRID = {
    # n_bars, fast, slow (quantrl, full grid), slow for the vectorbt grid
    False: (10000, list(range(2, 52)), list(range(10, 110)), list(range(10, 20))),
    True: (1000, list(range(2, 12)), list(range(10, 30)), [10, 11]),
}


def _calls(workload: str, quick: bool) -> dict[str, Callable[[], Any]]:
    """The timed calls of a workload, keyed by side: quantrl, vectorbt (and their variants)."""
    import vectorbt as vbt

    from quantrl.backtest import run_grid, run_weights
    from quantrl.stats.performance import max_drawdown, sharpe_ratio, total_return

    if workload in SIZES:
        n_bars, n_assets, seed = SIZES[workload][int(quick)]
        close = make_prices(n_bars, n_assets, seed)
        weights = make_weights(n_bars, n_assets, seed)
        close_np = close.to_numpy()

        def q_sim() -> Any:
            return run_weights(close_np, weights, fees=0.001, init_cash=1e6, lag=0)

        def q_metrics() -> Any:
            r = q_sim().returns
            return total_return(r), sharpe_ratio(r, periods_per_year=365), max_drawdown(r)

        def v_sim() -> Any:
            return vbt.Portfolio.from_orders(
                close,
                size=weights,
                size_type="targetpercent",
                group_by=True,
                cash_sharing=True,
                call_seq="auto",
                fees=0.001,
                init_cash=1e6,
                freq="1D",
            )

        def v_metrics() -> Any:
            pf = v_sim()
            return pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown()

        return {
            "quantrl": q_metrics,
            "vectorbt": v_metrics,
            "quantrl_sim": q_sim,
            "vectorbt_sim": v_sim,
        }
    if workload == "A3":
        n_bars, fast, slow, slow_peer = GRID[quick]
        close = make_prices(n_bars, 1, 3).iloc[:, 0]
        combos = list(itertools.product(fast, slow_peer))

        def q_full() -> Any:
            return run_grid(close, "ma_cross", {"fast": fast, "slow": slow}, fees=0.001, lag=0)

        def q_reduced() -> Any:
            return run_grid(close, "ma_cross", {"fast": fast, "slow": slow_peer}, fees=0.001, lag=0)

        def v_reduced() -> Any:
            f = vbt.MA.run(close, [c[0] for c in combos], short_name="fast")
            s = vbt.MA.run(close, [c[1] for c in combos], short_name="slow")
            entries = f.ma_crossed_above(s)
            exits = f.ma_crossed_below(s)
            pf = vbt.Portfolio.from_signals(
                close, entries.values, exits.values, fees=0.001, init_cash=1e6, freq="1D"
            )
            return pf.total_return()

        return {"quantrl": q_full, "quantrl_reduced": q_reduced, "vectorbt": v_reduced}
    raise SystemExit(f"unknown workload {workload!r}")


def _weights_rows(wid: str, quick: bool, repeats: int) -> list[dict[str, Any]]:
    calls = _calls(wid, quick)
    n_bars, n_assets, _ = SIZES[wid][int(quick)]
    tq, res = median_time(calls["quantrl_sim"], repeats)
    tv, pf = median_time(calls["vectorbt_sim"], repeats)
    rel = float(np.max(np.abs(res.equity / pf.value().to_numpy() - 1.0)))
    tqm, qm = median_time(calls["quantrl"], repeats)
    tvm, vm = median_time(calls["vectorbt"], repeats)
    q_py, _ = peak_memory(calls["quantrl"])
    v_py, _ = peak_memory(calls["vectorbt"])
    shape = f"{n_assets}x{n_bars}"
    return [
        {
            "id": wid,
            "work": f"rebalance {shape} sim",
            "quantrl_s": tq,
            "vectorbt_s": tv,
            "ratio": tv / tq,
            "max_rel_diff": rel,
        },
        {
            "id": wid,
            "work": f"rebalance {shape} + 3 metrics",
            "quantrl_s": tqm,
            "vectorbt_s": tvm,
            "ratio": tvm / tqm,
            "max_rel_diff": abs(qm[0] / vm[0] - 1.0),
            "quantrl_py_MB": _mb(q_py),
            "quantrl_rss_MB": rss_peak_subprocess(wid, "quantrl", quick),
            "vectorbt_py_MB": _mb(v_py),
            "vectorbt_rss_MB": rss_peak_subprocess(wid, "vectorbt", quick),
        },
    ]


def _grid_rows(quick: bool, repeats: int) -> list[dict[str, Any]]:
    calls = _calls("A3", quick)
    n_bars, fast, slow, slow_peer = GRID[quick]
    n_full = len(fast) * len(slow)
    n_peer = len(fast) * len(slow_peer)
    tq, _ = median_time(calls["quantrl"], repeats)
    tqs, small = median_time(calls["quantrl_reduced"], repeats)
    tv, vres = median_time(calls["vectorbt"], max(1, min(repeats, 3)))
    diff = float(np.max(np.abs(small["total_return"].to_numpy() - vres.to_numpy())))
    q_py, _ = peak_memory(calls["quantrl"])
    v_py, _ = peak_memory(calls["vectorbt"])
    return [
        {
            "id": "A3",
            "work": f"MA grid {n_full} combos x {n_bars} bars",
            "quantrl_s": tq,
            "quantrl_py_MB": _mb(q_py),
            "quantrl_rss_MB": rss_peak_subprocess("A3", "quantrl", quick),
        },
        {
            "id": "A3",
            "work": f"MA grid {n_peer} combos (both)",
            "quantrl_s": tqs,
            "vectorbt_s": tv,
            "ratio": tv / tqs,
            "max_rel_diff": diff,
            "vectorbt_py_MB": _mb(v_py),
            "vectorbt_rss_MB": rss_peak_subprocess("A3", "vectorbt", quick),
        },
        {
            "id": "A3",
            "work": f"per combo: vectorbt {n_peer} vs quantrl {n_full}",
            "quantrl_s": tq / n_full,
            "vectorbt_s": tv / n_peer,
            "ratio": (tv / n_peer) / (tq / n_full),
        },
    ]


def main(argv: list[str] | None = None) -> None:
    """Run the workloads and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, for a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5)")
    parser.add_argument("--rss", nargs=2, metavar=("WORKLOAD", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss:
        _rss_child(args.rss[0], args.rss[1], args.quick)
        return
    repeats = args.repeats or (2 if args.quick else 5)
    print(f"cpu cores: {os.cpu_count()}; repeats: {repeats}; quick: {args.quick}")
    print("py_MB = tracemalloc peak; rss_MB = resident-set growth in a fresh process")
    rows = _weights_rows("A1", args.quick, repeats)
    rows += _weights_rows("A2", args.quick, repeats)
    rows += _grid_rows(args.quick, repeats)
    print_table("Backtest workloads: quantrl vs vectorbt 1.2 (ratio = vectorbt / quantrl)", rows)
    try:
        from benchmarks.workload_stats import run_workload_d
    except ImportError as exc:
        print(f"\nworkload D skipped: benchmarks.workload_stats not available ({exc})")
    else:
        print_table("Workload D: performance statistics", run_workload_d(repeats=repeats))


if __name__ == "__main__":
    main()
