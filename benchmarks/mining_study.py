"""Workload M study: RL miner vs random search (and GP) over fresh seeds, paired, test split once.

The design is ``bench_mining``'s defaults (S&P 500 panel, 20-day label, AlphaGen's operators,
dimensionally sound grammar, pool of 10 per-date ranked and style-neutralised factors accepted
only on gains that hold in 3 thirds of the training dates, PPO paid the cross-validated gain),
at one formula budget per method and seed. Design work (budget, any setting) uses the design
seeds 0 and 1 and the validation split only (``--split valid``); the study proper uses fresh
seeds and looks at the test split once, after every pool is mined.

Phases, each checkpointed under ``--out`` so an interrupted study resumes where it stopped:

1. Mining: each (method, seed) runs ``bench_mining.mine``; its pool is saved to
   ``pools/METHOD-SEED.json`` and its row (training and validation figures, timings) to
   ``mined.json``, both written atomically; finished pairs are skipped on a rerun.
   ``design.json`` pins the design: a rerun with other settings is refused.
2. Evaluation, once every pair is mined: each pool's combined factor on the evaluated split (IC
   and RankIC of the 20-day label), traded as a top-minus-bottom quintile long-short portfolio
   (+0.5 spread equally over the top 20%, -0.5 over the bottom 20%, rebalanced every 20 bars,
   10 bp fees, fills at the next open) through ``run_weights``. Each portfolio is a ``strategy``
   trial and each pool a ``pool`` trial of study ``mining/M`` in the trial ledger; the deflated
   Sharpe ratio deflates by the study's trials on that split, the Sharpe's 95% CI is a
   stationary bootstrap. ``evaluated-SPLIT.json`` holds the results; when it exists the split is
   not evaluated again (a rerun only prints the report).
3. Report: mean RankIC per method with its t-interval over seeds, and the paired comparison
   (``quantrl.stats.inference.paired_comparison``: mean difference, its t-interval, paired t
   and Wilcoxon p-values) of each method against random search, on RankIC and on the traded
   Sharpe ratio; ``--markdown FILE`` writes the table and the conclusion the interval supports.
   Each row also holds the combined factor's AlphaEval stability (RRE) and robustness (PFS).
   ``--plot FILE`` draws each method's per-seed RankIC and Sharpe, every seed joined across
   the methods (the pairing the tests use), beside each mean's 95% t-interval.
4. Design comparisons: ``--reward-weights gain=1,stability=0.5,...`` mines with the PPO miner's
   AlphaEval-aware reward, ``--date-step k`` scores candidates on every k-th training date,
   ``--max-depth d`` caps the grammar's tree depth, ``--cv-gate mean|every`` accepts only changes
   whose cross-validated gain is positive, ``--t-gate deflated`` only changes whose per-date
   gain is significant after deflating for the candidates tried; ``--versus OTHER`` pairs each
   (method, seed) pool with the pool of study ``OTHER`` (another ``--out``, same split) on
   RankIC, Sharpe, RRE and PFS. Design comparisons belong on the validation split
   (``--split valid``).

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.mining_study \\
        --formulas 800 --seeds 3000-3007 --out runs/mining_study --markdown mining.md
"""

from __future__ import annotations

import argparse
import io
import json
import math
import textwrap
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats as sps

from benchmarks.bench_mining import MiningInputs, build_parser, load_inputs, mine
from quantrl.alpha import EvalCache, parse, to_rpn
from quantrl.backtest.engine import run_weights
from quantrl.data.cache import atomic_write_bytes
from quantrl.data.panel import Panel
from quantrl.evaluation.alpha import pfs, rre
from quantrl.jobs.ledger import note_test_use, open_registry, record_backtests, record_pool
from quantrl.jobs.store import Registry
from quantrl.mining.pool import CV_GATES, T_GATES, AlphaPool
from quantrl.stats.ic import ic_summary
from quantrl.stats.inference import PairedComparison, ci_verdict, paired_comparison, sharpe_ci
from quantrl.stats.performance import deflated_sharpe_ratio

STUDY = "mining/M"
"""The ledger study every evaluation of this study is recorded in."""
DESIGN_SEEDS = (0, 1)
"""Seeds reserved for design work on the validation split; never evaluated on the test split."""
BASELINE = "random"
"""The method every other method is compared with."""
HORIZON = 20
"""The label's length in bars (``Ref($close,-20)/$close-1``)."""


@dataclass(frozen=True)
class Design:
    """The study's fixed design: budget, methods, bench options and the traded portfolio."""

    formulas: int
    methods: tuple[str, ...] = ("ppo", "random", "gp")
    bench_args: tuple[str, ...] = ()
    quantile: float = 0.2
    rebalance: int = HORIZON
    fees: float = 0.001

    def bench(self) -> argparse.Namespace:
        """The bench's options: its defaults, ``bench_args`` and this formula budget."""
        return build_parser().parse_args([*self.bench_args, "--formulas", str(self.formulas)])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class MeanCI:
    """Mean of per-seed values with its t-interval."""

    n: int
    mean: float
    low: float
    high: float


# ----------------------------------------------------------------------------- files


def _write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2, allow_nan=True).encode())


def _read_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.exists() else default


def _key(method: str, seed: int) -> str:
    return f"{method}/{seed}"


def _pool_path(out: Path, method: str, seed: int) -> Path:
    return out / "pools" / f"{method}-{seed}.json"


def _check_design(out: Path, design: Design) -> None:
    """Pin the design in ``design.json``; refuse to resume a study with another design."""
    path = out / "design.json"
    saved = _read_json(path, None)
    if saved is None:
        _write_json(path, design.as_dict())
    elif saved != design.as_dict():
        raise SystemExit(f"{out} holds a study with another design: {saved}")


# ----------------------------------------------------------------------------- phases


def mine_all(
    out: Path, design: Design, seeds: Sequence[int], inputs: MiningInputs, *, verbose: bool = True
) -> dict[str, dict]:
    """Mine every (method, seed) not yet in ``mined.json``, checkpointing after each one."""
    _check_design(out, design)
    path = out / "mined.json"
    rows: dict[str, dict] = _read_json(path, {})
    args = design.bench()
    for seed in seeds:
        for method in design.methods:
            key = _key(method, seed)
            if key in rows:
                continue
            pool, row = mine(method, seed, inputs, args)
            pool.save(_pool_path(out, method, seed))
            rows[key] = row
            _write_json(path, rows)
            if verbose:
                print(
                    f"  {method} seed {seed}: {row['seconds']:.0f} s ({row['cpu_seconds']:.0f} s "
                    f"CPU), {row['formulas']} formulas, pool {row['pool']}, valid RankIC "
                    f"{row['valid_rank_ic']:.4f}",
                    flush=True,
                )
    return _read_json(path, {})


def long_short_weights(
    factor: np.ndarray, *, quantile: float = 0.2, every: int = HORIZON, start: int = 0
) -> np.ndarray:
    """Top-minus-bottom quantile weights of a (T, N) factor, rebalanced every ``every`` rows.

    On rows ``start``, ``start + every``, ...: the ``floor(quantile * n)`` highest of the ``n``
    finite values share +0.5 equally, as many lowest share -0.5, every other asset 0 (gross 1);
    ties are broken by column order. Other rows are NaN (no trade: positions drift), as is a
    rebalance row with fewer than ``1 / quantile`` finite values (the positions are kept).
    """
    f = np.asarray(factor, dtype=np.float64)
    out = np.full(f.shape, np.nan)
    for t in range(start, f.shape[0], every):
        ok = np.flatnonzero(np.isfinite(f[t]))
        k = int(math.floor(quantile * ok.size))
        if k < 1:
            continue
        order = ok[np.argsort(f[t, ok], kind="stable")]
        out[t] = 0.0
        out[t, order[:k]] = -0.5 / k
        out[t, order[-k:]] = 0.5 / k
    return out


def _segment(inputs: MiningInputs, split: str) -> tuple[Panel, np.ndarray]:
    panel = {"valid": inputs.valid, "test": inputs.test}[split]
    return panel, inputs.labels[split]


def evaluate_all(
    out: Path,
    design: Design,
    seeds: Sequence[int],
    inputs: MiningInputs,
    registry: Registry,
    *,
    split: str = "test",
) -> list[dict]:
    """Evaluate every mined pool on ``split`` once (see the module docstring); returns the rows.

    A split already evaluated (``evaluated-SPLIT.json``) is read back, not evaluated again.
    """
    if split == "test" and set(seeds) & set(DESIGN_SEEDS):
        raise SystemExit(f"design seeds {DESIGN_SEEDS} are for the validation split only")
    path = out / f"evaluated-{split}.json"
    done = _read_json(path, None)
    if done is not None:
        return done
    mined: dict[str, dict] = _read_json(out / "mined.json", {})
    missing = [_key(m, s) for s in seeds for m in design.methods if _key(m, s) not in mined]
    if missing:
        raise SystemExit(f"mine first: {', '.join(missing)} not mined yet")
    panel, label = _segment(inputs, split)
    params = {**design.as_dict(), "horizon": HORIZON, "history": panel.warmup}
    pools = {(m, s): AlphaPool.load(_pool_path(out, m, s)) for s in seeds for m in design.methods}
    empty = [f"{m} seed {s}" for (m, s), pool in pools.items() if not len(pool)]
    if empty:  # checked before anything is scored, so no trial is recorded
        raise SystemExit(
            f"{', '.join(empty)} mined an empty pool: no formula passed the pool's tests at this "
            "budget, so there is no factor to evaluate; raise --formulas"
        )
    rows, results = [], {}
    for seed in seeds:
        for method in design.methods:
            pool = pools[method, seed]
            factor = pool.combined(panel, cache=EvalCache(max_bytes=256 << 20))
            ic = ic_summary(factor, label).as_dict()
            metrics = {k: float(ic[k]) for k in ("ic", "rank_ic", "icir", "rank_icir")}
            scored = factor[panel.warmup :]  # the split's own rows
            alphaeval = {"rre": float(rre(scored)), "pfs": float(pfs(scored, seed=seed).mean)}
            name = f"{method} seed {seed}"
            record_pool(
                registry, STUDY, name, {split: metrics}, {split: panel}, {split: label}, params
            )
            weights = long_short_weights(
                factor, quantile=design.quantile, every=design.rebalance, start=panel.warmup
            )
            res = run_weights(panel, weights, fees=design.fees)
            results[name] = res
            rows.append({**mined[_key(method, seed)], "split": split, **metrics, **alphaeval})
    trials = record_backtests(
        registry, STUDY, "strategy", results, split=split, params=dict.fromkeys(results, params)
    )
    for row, res in zip(rows, results.values(), strict=True):
        r = np.asarray(res.returns, dtype=np.float64)
        ci = sharpe_ci(r, periods_per_year=res.periods_per_year, seed=0)
        row.update(
            sharpe=ci.estimate,
            sharpe_low=ci.low,
            sharpe_high=ci.high,
            dsr=float(deflated_sharpe_ratio(r, trials)),
            trials=trials.n_trials,
            total_return=float(np.prod(1.0 + r[np.isfinite(r)]) - 1.0),
        )
    _write_json(path, rows)
    if split == "test":
        print(note_test_use(STUDY, registry.count_trials(STUDY, "test")))
    return rows


# ----------------------------------------------------------------------------- statistics


def mean_ci(values: Sequence[float], level: float = 0.95) -> MeanCI:
    """Mean of per-seed values and its t-interval (``scipy.stats.ttest_1samp``)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2 or np.ptp(x) == 0.0:
        m = float(x.mean()) if x.size else math.nan
        return MeanCI(int(x.size), m, m, m)
    ci = sps.ttest_1samp(x, 0.0).confidence_interval(confidence_level=level)
    return MeanCI(int(x.size), float(x.mean()), float(ci.low), float(ci.high))


def per_seed(rows: Sequence[dict], method: str, metric: str, seeds: Sequence[int]) -> np.ndarray:
    """One metric of one method, in seed order (NaN where a seed or its row lacks it)."""
    by_seed = {r["seed"]: r.get(metric, math.nan) for r in rows if r["method"] == method}
    return np.array([by_seed.get(s, math.nan) for s in seeds], dtype=np.float64)


def comparisons(
    rows: Sequence[dict], methods: Sequence[str], seeds: Sequence[int], metric: str
) -> dict[str, PairedComparison]:
    """Paired comparison of each method with ``BASELINE`` (and PPO with GP) on ``metric``; none
    with fewer than two seeds."""
    if len(seeds) < 2:
        return {}
    pairs = [(m, BASELINE) for m in methods if m != BASELINE and BASELINE in methods]
    if "ppo" in methods and "gp" in methods:
        pairs.append(("ppo", "gp"))
    return {
        f"{a} - {b}": paired_comparison(
            per_seed(rows, a, metric, seeds), per_seed(rows, b, metric, seeds)
        )
        for a, b in pairs
    }


def conclusion(cmp: PairedComparison, a: str, b: str, what: str) -> str:
    """The plain reading of a paired difference's CI."""
    verdict = ci_verdict(cmp.low, cmp.high, ">")
    nums = (
        f"mean paired difference {cmp.mean_difference:+.4f}, 95% CI [{cmp.low:+.4f}, "
        f"{cmp.high:+.4f}], paired t p = {cmp.t_pvalue:.3f}, Wilcoxon p = "
        f"{cmp.wilcoxon_pvalue:.3f}, {cmp.n} seeds"
    )
    if verdict == "supported":
        return f"{a} beats {b} on {what} ({nums})."
    if verdict == "contradicted":
        return f"{a} does not beat {b}: {b} is better on {what} ({nums})."
    return f"{a} does not beat {b} on {what}: the CI contains 0 ({nums})."


# ----------------------------------------------------------------------------- report

LABELS = {"ppo": "PPO (MaskablePPO)", "random": "random search", "gp": "genetic programming"}


def _fmt(c: MeanCI, digits: int = 4) -> str:
    return f"{c.mean:.{digits}f} [{c.low:.{digits}f}, {c.high:.{digits}f}]"


def _fmt_cmp(c: PairedComparison) -> str:
    if not (math.isfinite(c.t_pvalue) or math.isfinite(c.wilcoxon_pvalue)):
        return f"{c.mean_difference:+.4f} on every seed | - | -"  # the tests are undefined
    return (
        f"{c.mean_difference:+.4f} [{c.low:+.4f}, {c.high:+.4f}] | {c.t_pvalue:.3f} | "
        f"{c.wilcoxon_pvalue:.3f}"
    )


def report(
    rows: Sequence[dict], design: Design, seeds: Sequence[int], split: str, timing: str = ""
) -> str:
    """Print the per-seed table and the comparisons; returns the markdown section."""
    head = (
        f"{'method':7s} {'seed':>5s} {'pool':>4s} {'valid IC':>8s} {split + ' IC':>8s} "
        f"{'RankIC':>7s} {'Sharpe':>7s} {'95% CI':>17s} {'DSR':>6s} {'CPU s':>6s}"
    )
    print(f"\n{head}\n{'-' * len(head)}")
    for r in rows:
        print(
            f"{r['method']:7s} {r['seed']:5d} {r['pool']:4d} {r['valid_ic']:8.4f} {r['ic']:8.4f} "
            f"{r['rank_ic']:7.4f} {r['sharpe']:7.2f} [{r['sharpe_low']:6.2f}, "
            f"{r['sharpe_high']:6.2f}] {r['dsr']:6.3f} {r['cpu_seconds']:6.0f}"
        )
    ric = {m: mean_ci(per_seed(rows, m, "rank_ic", seeds)) for m in design.methods}
    shp = {m: mean_ci(per_seed(rows, m, "sharpe", seeds)) for m in design.methods}
    dsr = {m: mean_ci(per_seed(rows, m, "dsr", seeds)) for m in design.methods}
    by_ric = comparisons(rows, design.methods, seeds, "rank_ic")
    by_shp = comparisons(rows, design.methods, seeds, "sharpe")
    for m in design.methods:
        print(
            f"{m:7s} mean over {ric[m].n} seeds: {split} RankIC {_fmt(ric[m])}, Sharpe "
            f"{_fmt(shp[m])}, DSR {dsr[m].mean:.3f}"
        )
    for name, c in by_ric.items():
        print(f"RankIC {name}: {_fmt_cmp(c).replace(' | ', ', ')} (diff [CI], t p, Wilcoxon p)")
    for name, c in by_shp.items():
        print(f"Sharpe {name}: {_fmt_cmp(c).replace(' | ', ', ')} (diff [CI], t p, Wilcoxon p)")
    n_trials = rows[0]["trials"] if rows else 0
    lines = [
        f"**Formula-alpha mining, workload M** (S&P 500 panel, label 20-day forward return; "
        f"train < 2016-07-01 <= valid < 2017-01-01 <= test). Each method mined a pool of "
        f"10 with the bench's default design (`benchmarks/bench_mining.py`) at a budget of "
        f"{design.formulas} formulas per method and seed, seeds {seeds[0]}..{seeds[-1]} "
        f"({len(seeds)} fresh seeds); every pool was evaluated on the {split} "
        f"split once, after all were mined (`benchmarks/mining_study.py`). The traded "
        f"portfolio is the combined factor's top-minus-bottom {design.quantile:.0%} long-short, "
        f"rebalanced every {design.rebalance} bars, {design.fees * 1e4:g} bp fees; its Sharpe "
        f"CI is a stationary bootstrap, its DSR deflates by the {n_trials} {split}-split "
        f"trials of ledger study `{STUDY}`. Means over seeds with 95% t-intervals.",
        "",
        f"| method | {split} RankIC, mean [95% CI] | long-short Sharpe, mean [95% CI] | mean DSR |",
        "|---|---|---|---|",
        *(
            f"| {LABELS.get(m, m)} | {_fmt(ric[m])} | {_fmt(shp[m], 2)} | {dsr[m].mean:.3f} |"
            for m in design.methods
        ),
        "",
        "| paired over seeds | metric | mean difference [95% CI] | paired t p | Wilcoxon p |",
        "|---|---|---|---|---|",
        *(f"| {k} | {split} RankIC | {_fmt_cmp(c)} |" for k, c in by_ric.items()),
        *(f"| {k} | Sharpe | {_fmt_cmp(c)} |" for k, c in by_shp.items()),
        "",
    ]
    for what, cmps in ((f"{split} RankIC", by_ric), ("long-short Sharpe", by_shp)):
        for name, c in cmps.items():
            a, b = name.split(" - ")
            lines.append(f"- {conclusion(c, LABELS.get(a, a), LABELS.get(b, b), what)}")
    for m in design.methods:
        values = ", ".join(f"{v:.4f}" for v in per_seed(rows, m, "rank_ic", seeds))
        lines.append(f"- Per-seed {split} RankIC of {LABELS.get(m, m)}: {values}.")
    if timing:
        lines.append(f"- {timing}")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    return text


PLOTTED = (("rank_ic", "RankIC"), ("sharpe", "long-short Sharpe"))
"""The metrics ``study_figure`` draws, one panel each, where the rows hold them."""


def study_figure(
    rows: Sequence[dict], methods: Sequence[str], seeds: Sequence[int], split: str
) -> Figure:
    """Per-seed values of each method (grey, one line per seed across the methods: the pairs
    the paired tests compare) and each method's mean with its 95% t-interval (black)."""
    metrics = [(m, name) for m, name in PLOTTED if any(m in r for r in rows)]
    if not metrics or not methods or not seeds:
        raise SystemExit("nothing to plot: no RankIC or Sharpe rows")
    fig = Figure(figsize=(5.0 * len(metrics), 4.2))
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    x = np.arange(len(methods), dtype=np.float64)
    for ax, (metric, name) in zip(axes, metrics, strict=True):
        values = np.array([per_seed(rows, m, metric, seeds) for m in methods])
        for k, seed in enumerate(seeds):
            ax.plot(x, values[:, k], color="0.7", marker="o", markersize=3, linewidth=0.8,
                    label=f"seed {seed}", gid="seed")  # fmt: skip
        for i in range(len(methods)):
            c = mean_ci(values[i])
            ax.errorbar(i + 0.15, c.mean, yerr=[[c.mean - c.low], [c.high - c.mean]], fmt="D",
                        color="black", capsize=4, label=f"mean {methods[i]}")  # fmt: skip
        ax.axhline(0.0, color="grey", linewidth=0.6, linestyle="--")
        ax.set_xticks(
            x, [textwrap.fill(LABELS.get(m, m), 12, break_long_words=False) for m in methods]
        )
        ax.set_xlim(-0.5, len(methods) - 0.5)
        ax.set_title(f"{split} {name}")
    fig.suptitle(
        f"{len(seeds)} seeds (grey, each joined across methods); black: mean and 95% t-interval",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_study(
    rows: Sequence[dict], methods: Sequence[str], seeds: Sequence[int], split: str, path: Path
) -> None:
    """Write ``study_figure`` as a PNG (atomically)."""
    buf = io.BytesIO()
    study_figure(rows, methods, seeds, split).savefig(buf, format="png", dpi=100)
    atomic_write_bytes(path, buf.getvalue())


def _row(rows: Sequence[dict], method: str, seed: int) -> dict | None:
    """The row of one (method, seed), or None."""
    return next((r for r in rows if r["method"] == method and r["seed"] == seed), None)


def member_size(
    rows: Sequence[dict], method: str, seeds: Sequence[int]
) -> tuple[int, float, float]:
    """Pool members of one method over the seeds: their count, mean RPN tokens and mean depth."""
    exprs = [
        parse(formula)
        for s in seeds
        if (r := _row(rows, method, s))
        for formula, _ in r.get("members", ())
    ]
    if not exprs:
        return 0, math.nan, math.nan
    tokens = float(np.mean([len(to_rpn(e)) for e in exprs]))
    return len(exprs), tokens, float(np.mean([e.depth for e in exprs]))


def versus(
    rows: Sequence[dict], other: Sequence[dict], seeds: Sequence[int], split: str, label: str
) -> str:
    """Paired comparison, per method and seed, of this study's pools with another design's
    (``label`` names the difference) on RankIC, Sharpe, RRE and PFS; returns markdown."""
    metrics = (("rank_ic", f"{split} RankIC"), ("sharpe", "Sharpe"), ("rre", "RRE"), ("pfs", "PFS"))
    methods = sorted({r["method"] for r in rows} & {r["method"] for r in other})
    lines = [
        f"| {label}, paired over seeds | metric | this design | other design | "
        "mean difference [95% CI] | paired t p | Wilcoxon p |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        for key, what in metrics:
            a, b = per_seed(rows, m, key, seeds), per_seed(other, m, key, seeds)
            if not (np.isfinite(a).sum() >= 2 and np.isfinite(b).sum() >= 2):
                continue
            c = paired_comparison(a, b)
            lines.append(
                f"| {LABELS.get(m, m)} | {what} | {_fmt(mean_ci(a))} | {_fmt(mean_ci(b))} | "
                f"{_fmt_cmp(c)} |"
            )
    for m in methods:
        same = [
            s for s in seeds
            if (x := _row(rows, m, s)) and (y := _row(other, m, s))
            and x.get("members") == y.get("members")
        ]  # fmt: skip
        lines.append(
            f"\n{LABELS.get(m, m)}: the two designs mined the same pool on {len(same)} of "
            f"{len(seeds)} seeds" + (f" ({', '.join(map(str, same))})." if same else ".")
        )
        (n_a, tok_a, dep_a), (n_b, tok_b, dep_b) = (
            member_size(rows, m, seeds),
            member_size(other, m, seeds),
        )
        if n_a and n_b:
            lines.append(
                f"{LABELS.get(m, m)}: pool members of {tok_a:.1f} tokens (depth {dep_a:.1f}) on "
                f"average in this design ({n_a} members), {tok_b:.1f} ({dep_b:.1f}) in the other "
                f"({n_b})."
            )
        for label_, rows_ in (("this design", rows), ("the other design", other)):
            q = [
                r["reward_quality"] for s in seeds
                if (r := _row(rows_, m, s)) and r.get("reward_quality", {}).get("n")
            ]  # fmt: skip
            if q:
                lines.append(
                    f"{LABELS.get(m, m)}, {label_}: the blended reward scaled the gains of "
                    f"{min(x['n'] for x in q)}-{max(x['n'] for x in q)} candidates per seed by "
                    f"a median of {np.median([x['median'] for x in q]):.4f} (per-seed 5 % "
                    f"quantiles {min(x['q05'] for x in q):.3f}-{max(x['q05'] for x in q):.3f}, "
                    f"smallest {min(x['min'] for x in q):.3f})."
                )
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    return text


# ----------------------------------------------------------------------------- CLI


def _add_wall(out: Path, seconds: float) -> None:
    """Add one invocation's wall-clock seconds to ``wall.json`` (the study's total)."""
    path = out / "wall.json"
    _write_json(path, {"seconds": _read_json(path, {"seconds": 0.0})["seconds"] + seconds})


def _timing(out: Path, seeds: Sequence[int]) -> str:
    """Wall and CPU time of the mining and of the whole study, as a sentence."""
    mined = [r for r in _read_json(out / "mined.json", {}).values() if r["seed"] in seeds]
    wall = _read_json(out / "wall.json", {}).get("seconds")
    whole = f"; the whole study {wall / 60:.1f} min" if wall else ""
    return (
        f"Mining took {sum(r['seconds'] for r in mined) / 60:.1f} min of wall clock "
        f"({sum(r['cpu_seconds'] for r in mined) / 60:.1f} min CPU) on one core of a shared "
        f"2-core machine{whole}."
    )


def parse_seeds(text: str) -> list[int]:
    """'1000-1007' or '1000,1001,...'."""
    if "-" in text and "," not in text:
        lo, hi = (int(x) for x in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    """Mine what is missing, evaluate once on the split, print and write the report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formulas", type=int, required=True, help="formula budget per method/seed")
    ap.add_argument("--seeds", default="3000-3007", help="'3000-3007' or a comma list")
    ap.add_argument("--methods", default="ppo,random,gp")
    ap.add_argument("--split", default="test", choices=("valid", "test"))
    ap.add_argument("--out", type=Path, default=Path("runs/mining_study"))
    ap.add_argument("--registry", default=None, help="trial ledger (default: the project's)")
    ap.add_argument("--markdown", type=Path, default=None, help="write the report section here")
    ap.add_argument("--max-symbols", type=int, default=0, help="first n symbols only (smoke)")
    ap.add_argument(
        "--reward-weights", default="",
        help="the PPO miner's AlphaEval-aware reward, e.g. gain=1,stability=0.5,robustness=0.5",
    )  # fmt: skip
    ap.add_argument(
        "--date-step", type=int, default=1,
        help="score candidates on every k-th training date (the pool's date_step)",
    )  # fmt: skip
    ap.add_argument(
        "--max-depth", type=int, default=0,
        help="deepest formula tree the grammar writes (0: the bench's default)",
    )  # fmt: skip
    ap.add_argument(
        "--cv-gate", default="off", choices=CV_GATES,
        help="the pool's cross-validated acceptance test (bench_mining --cv-gate)",
    )  # fmt: skip
    ap.add_argument(
        "--t-gate", default="off", choices=T_GATES,
        help="the pool's trial-deflated acceptance test (bench_mining --t-gate)",
    )  # fmt: skip
    ap.add_argument(
        "--idle-constants", default="", choices=("", "on", "off"),
        help="the pool's idle-constant refusal (bench_mining --idle-constants; '': its default)",
    )  # fmt: skip
    ap.add_argument(
        "--simplify", type=float, default=None,
        help="add accepted candidates in their simplest acceptable form within this share of "
        "their gain (bench_mining --simplify; negative: as offered; default: the bench's)",
    )  # fmt: skip
    ap.add_argument(
        "--simplify-reach", type=int, default=None, choices=(1, 2),
        help="deletions a simplification step may take (bench_mining --simplify-reach)",
    )  # fmt: skip
    ap.add_argument(
        "--plot", type=Path, default=None,
        help="write a PNG of the per-seed RankIC and Sharpe, seeds paired across methods",
    )  # fmt: skip
    ap.add_argument(
        "--versus", type=Path, default=None,
        help="another study's --out evaluated on the same split: pair its pools with these",
    )  # fmt: skip
    args = ap.parse_args()
    bench_args: tuple[str, ...] = ()
    if args.max_symbols:
        bench_args += ("--max-symbols", str(args.max_symbols))
    if args.reward_weights:
        bench_args += ("--reward-weights", args.reward_weights)
    if args.date_step != 1:
        bench_args += ("--date-step", str(args.date_step))
    if args.max_depth:
        bench_args += ("--max-depth", str(args.max_depth))
    if args.cv_gate != "off":
        bench_args += ("--cv-gate", args.cv_gate)
    if args.t_gate != "off":
        bench_args += ("--t-gate", args.t_gate)
    if args.idle_constants:
        bench_args += ("--idle-constants", args.idle_constants)
    if args.simplify_reach is not None:
        bench_args += ("--simplify-reach", str(args.simplify_reach))
    if args.simplify is not None:
        bench_args += ("--simplify", str(args.simplify))
    design = Design(args.formulas, tuple(args.methods.split(",")), bench_args)
    seeds = parse_seeds(args.seeds)
    if args.split == "test" and set(seeds) & set(DESIGN_SEEDS):
        raise SystemExit(f"design seeds {DESIGN_SEEDS} are for the validation split only")
    start = time.perf_counter()
    print(
        f"study {STUDY}: {design.formulas} formulas per method and seed, methods "
        f"{', '.join(design.methods)}, seeds {seeds}, evaluated on the {args.split} split",
        flush=True,
    )
    evaluated = args.out / f"evaluated-{args.split}.json"
    if evaluated.exists():  # evaluated once already: report only
        _check_design(args.out, design)
        rows = _read_json(evaluated, [])
    else:
        inputs = load_inputs(design.bench())
        mine_all(args.out, design, seeds, inputs)
        rows = evaluate_all(
            args.out, design, seeds, inputs, open_registry(args.registry), split=args.split
        )
        _add_wall(args.out, time.perf_counter() - start)
    text = report(rows, design, seeds, args.split, _timing(args.out, seeds))
    if args.versus is not None:
        other = _read_json(args.versus / f"evaluated-{args.split}.json", None)
        if other is None:
            raise SystemExit(f"{args.versus} has no {args.split}-split evaluation to compare with")
        theirs = _read_json(args.versus / "design.json", {}).get("bench_args", [])
        label = f"{' '.join(bench_args) or 'defaults'} vs {' '.join(theirs) or 'defaults'}"
        text += "\n" + versus(rows, other, seeds, args.split, label)
    if args.markdown:
        args.markdown.write_text(text)
    if args.plot:
        plot_study(rows, design.methods, seeds, args.split, args.plot)


if __name__ == "__main__":
    main()
