"""Early stopping on validation: does the pool from the best validation checkpoint hold up?

A long mining run fits the training years more and more while its validation RankIC does not
follow. This study mines workload M with ``bench_mining``'s design (its options pass through)
and, every ``--every`` formulas, records the pool's combined factor's per-date RankIC on the
validation split. The validation dates with a label are then cut in two: A, the first half less
its last ``HORIZON`` dates (their labels would reach into B's returns), and B, the second half.
The checkpoint with the best mean RankIC on A is "selected"; the last checkpoint is the pool a
run without early stopping keeps. The report pairs, over seeds, the B RankIC of the selected
pool against the last pool's (and against the checkpoint at ``--versus-formulas``), with the
best checkpoint on B itself as the ceiling no rule reaches. The test split is never read.

Each seed's checkpoints are written atomically to ``--out/seed-SEED.json``; a rerun skips the
seeds already there (the design is pinned in ``design.json``).

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.stopping_study \\
        --formulas 8000 --every 400 --seeds 10-17 --out runs/stopping
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from benchmarks.bench_mining import HORIZON, build_parser, load_inputs, mine
from benchmarks.mining_study import mean_ci, parse_seeds
from quantrl.alpha import EvalCache
from quantrl.data.cache import atomic_write_bytes
from quantrl.evaluation.report import figure_png
from quantrl.mining import MiningTask
from quantrl.mining.pool import AlphaPool
from quantrl.mining.pool_stats import finite_mean
from quantrl.stats.ic import label_order, rank_ic_series
from quantrl.stats.inference import paired_comparison

__all__ = ["halves", "select", "stopping_figure", "study_report"]


def halves(labelled: np.ndarray, gap: int = HORIZON) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of A (the first half of the labelled rows less its last ``gap``) and B (the
    second half)."""
    rows = np.flatnonzero(labelled)
    mid = rows.size // 2
    return rows[: max(0, mid - gap)], rows[mid:]


def _mean_on(point: dict[str, Any], rows: np.ndarray) -> float:
    """A checkpoint's mean validation RankIC over ``rows`` (NaN dates skipped; NaN if none)."""
    return finite_mean(np.asarray(point["valid_rank_ic"], dtype=float)[rows], math.nan)


def select(points: list[dict[str, Any]], a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Per seed: the checkpoint chosen on A (earliest of equals) and the B RankIC of every
    candidate rule."""
    on_a = [_mean_on(p, a) for p in points]
    on_b = [_mean_on(p, b) for p in points]
    score = [x if math.isfinite(x) else -math.inf for x in on_a]
    pick = int(np.argmax(score))
    return {
        "pick": pick,
        "pick_formulas": points[pick]["formulas"],
        "pick_train": points[pick]["train_objective"],
        "last_train": points[-1]["train_objective"],
        "selected_b": on_b[pick],
        "last_b": on_b[-1],
        "oracle_b": max((x for x in on_b if math.isfinite(x)), default=math.nan),
        "by_formulas_b": {int(p["formulas"]): x for p, x in zip(points, on_b, strict=True)},
    }


def stopping_figure(
    curves: dict[int, list[dict[str, Any]]], a: np.ndarray, b: np.ndarray, title: str = ""
) -> Figure:
    """Seed means (95% t-band over seeds) against formulas offered: the training objective, and
    the combined factor's mean RankIC on validation halves A and B."""
    seeds = sorted(curves)
    x = np.array([p["formulas"] for p in curves[seeds[0]]], dtype=float)
    fig = Figure(figsize=(9.0, 3.6))
    left, right = fig.subplots(1, 2)
    panels = (
        (left, "train objective", lambda p: p["train_objective"], "black"),
        (right, "valid RankIC, half A", lambda p: _mean_on(p, a), "#1f77b4"),
        (right, "valid RankIC, half B", lambda p: _mean_on(p, b), "#d62728"),
    )  # fmt: skip
    for ax, label, value, color in panels:
        cis = [mean_ci([value(curves[s][i]) for s in seeds]) for i in range(x.size)]
        ax.plot(x, [c.mean for c in cis], color=color, lw=1.5, label=label)
        ax.fill_between(x, [c.low for c in cis], [c.high for c in cis], color=color, alpha=0.15)
    right.axhline(0.0, color="grey", lw=0.5)
    left.set_ylabel(f"seed mean (95% band, {len(seeds)} seeds)")
    for ax in (left, right):
        ax.set_xlabel("formulas offered")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    fig.suptitle(title or "The pool during a long search", fontsize="medium")
    fig.tight_layout()
    return fig


def study_report(rows: dict[int, dict[str, Any]], versus: int) -> str:
    """The paired comparisons of the selected pool against the last one and the fixed budget."""
    seeds = sorted(rows)
    sel = [rows[s]["selected_b"] for s in seeds]
    out = ["seed  chosen at  train(chosen)  train(last)  B chosen  B last  B best"]
    for s in seeds:
        r = rows[s]
        out.append(
            f"{s:4d}  {r['pick_formulas']:9.0f}  {r['pick_train']:13.4f}  {r['last_train']:11.4f}"
            f"  {r['selected_b']:+.4f}  {r['last_b']:+.4f}  {r['oracle_b']:+.4f}"
        )
    pairs = [("last", [rows[s]["last_b"] for s in seeds])]
    fixed = [rows[s]["by_formulas_b"].get(versus, math.nan) for s in seeds]
    pairs.append((f"{versus} formulas", fixed))
    for name, other in pairs:
        if sum(math.isfinite(x) for x in other) < 2:
            continue
        c = paired_comparison(sel, other)
        out.append(
            f"chosen - {name}: {c.mean_difference:+.4f} [{c.low:+.4f}, {c.high:+.4f}] "
            f"(paired t p {c.t_pvalue:.3f}, Wilcoxon p {c.wilcoxon_pvalue:.3f}, {c.n} seeds)"
        )
    return "\n".join(out)


def _mine_seed(
    seed: int, inputs: Any, args: argparse.Namespace, every: int, order: np.ndarray
) -> list[dict[str, Any]]:
    """Mine one seed with random search; a checkpoint (formulas, training objective, pool,
    per-date validation RankIC) every ``every`` formulas."""
    label = inputs.labels["valid"]
    points: list[dict[str, Any]] = []
    cache = EvalCache(max_bytes=256 << 20)

    def record(pool: AlphaPool, task: MiningTask) -> None:
        series = np.full(label.shape[0], np.nan)
        if len(pool):
            combo = pool.combined(inputs.valid, cache=cache)
            series = rank_ic_series(combo, label, order=order)
        finite = series[np.isfinite(series)]
        points.append(
            {
                "formulas": task.n_offered,
                "train_objective": pool.objective,
                "pool": list(pool.formulas),
                "valid_rank_ic": [float(x) if math.isfinite(x) else None for x in series],
            }
        )
        print(
            f"  seed {seed}: {task.n_offered} formulas, train {pool.objective:.4f}, valid "
            f"{finite.mean() if finite.size else math.nan:+.4f}",
            flush=True,
        )

    mine("random", seed, inputs, args, every=every, on_every=record)
    return points


def main() -> None:
    """Mine each seed with checkpoints, then print the paired report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="10-17", help="'10-17' or a comma list")
    ap.add_argument("--every", type=int, default=400, help="formulas between checkpoints")
    ap.add_argument("--versus-formulas", type=int, default=800)
    ap.add_argument("--out", type=Path, default=Path("runs/stopping"))
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--plot", type=Path, default=None, help="draw the seed-mean curves here")
    own, rest = ap.parse_known_args()
    args = build_parser().parse_args([*rest, "--methods", "random"])
    if args.formulas <= 0 or args.formulas % own.every:
        raise SystemExit("--formulas must be a positive multiple of --every")
    own.out.mkdir(parents=True, exist_ok=True)
    design = {"every": own.every, "argv": sorted(rest)}
    design_path = own.out / "design.json"
    if design_path.exists() and json.loads(design_path.read_text()) != design:
        raise SystemExit(f"{own.out} holds a study of another design: {design_path.read_text()}")
    atomic_write_bytes(design_path, json.dumps(design).encode())

    inputs = load_inputs(args)
    label = inputs.labels["valid"]
    a, b = halves(np.isfinite(label).any(axis=1))
    print(f"validation rows with a label: A {a.size}, B {b.size} (gap {HORIZON})")
    order = label_order(label)
    rows: dict[int, dict[str, Any]] = {}
    curves: dict[int, list[dict[str, Any]]] = {}
    for seed in parse_seeds(own.seeds):
        path = own.out / f"seed-{seed}.json"
        if not path.exists():
            if own.report_only:
                continue
            points = _mine_seed(seed, inputs, args, own.every, order)
            atomic_write_bytes(path, json.dumps({"seed": seed, "points": points}).encode())
        points = json.loads(path.read_text())["points"]
        for p in points:
            p["valid_rank_ic"] = [math.nan if x is None else x for x in p["valid_rank_ic"]]
        rows[seed] = select(points, a, b)
        curves[seed] = points
    if len(rows) >= 2:
        print(study_report(rows, own.versus_formulas))
        if own.plot is not None:
            title = f"Random search on the S&P 500 training split, seeds {min(rows)}-{max(rows)}"
            atomic_write_bytes(own.plot, figure_png(stopping_figure(curves, a, b, title)))
            print(f"figure: {own.plot}")


if __name__ == "__main__":
    main()
