"""Does keeping freed memory in the process speed up formula evaluation? Workload G, both ways.

``quantrl.memory.retain_freed_memory`` raises glibc's mmap and trim thresholds so that freed
panel-sized arrays are reused instead of being handed back to the kernel and faulted in again.
It changes the allocator of the whole process, so quantrl leaves it off and a program opts in.
This script runs ``benchmarks.bench_alpha`` twice, each in a fresh process (the setting cannot be
undone inside one), without and with the opt-in, and prints quantrl's times side by side with
their ratio (``off / on``: above 1 means retention helps).

Usage: ``python -m benchmarks.bench_memory [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import print_table


def _run(retain: bool, quick: bool) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "summary.json"
        cmd = [sys.executable, "-m", "benchmarks.bench_alpha", "--json", str(out)]
        cmd += ["--retain-memory"] if retain else []
        cmd += ["--quick"] if quick else []
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def main() -> None:
    """Run workload G without and with freed-memory retention and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, for a smoke run")
    args = parser.parse_args()
    off = _run(False, args.quick)
    on = _run(True, args.quick)
    rows = [
        {
            "measure": a["measure"],
            "off_ms": a["quantrl_ms"],
            "on_ms": b["quantrl_ms"],
            "off/on": a["quantrl_ms"] / b["quantrl_ms"],
        }
        for a, b in zip(off, on, strict=True)
    ]
    print_table("Workload G, quantrl without / with freed-memory retention", rows)


if __name__ == "__main__":
    main()
