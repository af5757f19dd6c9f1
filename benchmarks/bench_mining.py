"""Workload M: RL miner vs masked random search vs genetic programming, equal budgets.

Bundled S&P 500 panel, train < 2016-07-01 <= valid < 2017-01-01 <= test, label = 20-day forward
return ``Ref($close,-20)/$close-1`` computed inside each split, pool of 10 combined by least
squares. Every method runs in the same harness (same vocabulary of AlphaGen's 22 operators,
features, windows and constants; same grammar, dimensionally sound by default, ``--units off``
for any valid formula; same pool settings; its own evaluation cache) after a shared numba
warm-up, then the final pool's combined factor is scored on the test split.

The budget is a number of formulas (``--formulas``) or tokens (``--tokens``), with
``--minutes`` as an optional wall-clock cap (or the only budget): with a formula or token budget
and no cap hit, a seed reproduces its numbers exactly. Prints test IC, RankIC, ICIR, pool size,
formulas evaluated, formulas per second of wall-clock and of CPU time (``time.process_time``,
which other processes on the machine do not inflate), and where a formula's CPU time goes:
engine evaluation, per-date transform, style neutralisation, pool fit and cross-validation,
other (parsing, rewards, repeats), the AlphaEval reward terms, and the searcher's own time
(sampling and grammar masks; for PPO the policy's forward passes and rollout bookkeeping, with
the gradient updates and the grammar shown apart). With a formula budget the same breakdown is
printed for the second half of the formulas, with the system time and page faults per formula:
the first formulas fill the evaluation cache, and memory a process touches for the first time
costs page faults (on some virtual machines several milliseconds a formula until the cache is
full). Pin it to one core for per-core figures:
``NUMBA_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/bench_mining.py ...``.

The pool defaults to per-date rank-transformed factors fitted to the label's ranks
(``--transform rank``) and accepts a candidate only when its gain holds in each of 3 consecutive
thirds of the training dates (``--blocks 3``); the cross-validated gain fits each third's weights
without the ``--purge 20`` rows on either side of it, whose labels overlap the third's.
``--transform zscore --blocks 1`` is the plain least-squares pool. ``--valid-gate`` also requires
a gain on the validation split (the test split is never used by any search);
``--ppo key=value,...`` overrides ``PPOConfig`` fields and ``--reward cv|marginal|net`` picks what
the PPO miner is paid (see ``MiningTask``; random search ignores rewards and GP's fitness is the
candidate's own training IC).
Factors are neutralised per date against log price, log dollar volume and 60-day volatility
(``--neutralize styles``, the default; ``none`` turns it off): on this panel those style premia
flip sign between the training years and 2017, so unneutralised training ICs predict test ICs
negatively. A candidate holding a comparison that takes one outcome on at least 99.9 % of the
training cells where it is defined, an operand in disguise, is refused as ``"one-sided"``
(``--one-sided``, 0 keeps them), and one that passed the training tests with a constant whose
scaling leaves its factor as it was is refused as ``"idle constant"`` (``--idle-constants off``
keeps them). An accepted candidate is added in its simplest one-step deletion the pool accepts
as well, with no loss of training objective (``quantrl.mining.simplify``; ``--simplify TOL``
allows a loss of TOL times its gain, ``--simplify-reach 2`` also tries forms two deletions away,
``--simplify -1`` adds formulas as offered).
``--json FILE`` saves the runs and ``--merge FILE ...`` prints one table of saved runs, so seeds
can run in separate processes, each pinned to its own core.

    .venv/bin/python benchmarks/bench_mining.py --formulas 2000 --methods random,gp,ppo
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantrl.alpha import OPERATORS, EvalCache, evaluate
from quantrl.data import load_market
from quantrl.data.panel import Panel
from quantrl.data.splits import split_dates
from quantrl.evaluation.comparison_shares import ONE_SIDED
from quantrl.evaluation.logic import RuleBasedJudge
from quantrl.jobs.harness import make_searcher
from quantrl.mining import MiningTask, Vocabulary
from quantrl.mining.env import REWARD_BASES, RewardWeights
from quantrl.mining.neutral import exposure_formulas
from quantrl.mining.pool import CV_GATES, T_GATES, AlphaPool
from quantrl.mining.simplify import Simplifier
from quantrl.mining.train import PPOConfig, PPOMiner

HORIZON = 20  # label: the 20-day forward return

STAGES = ("evaluate", "transform", "neutralize", "fit", "other", "alphaeval", "search")


def _usage(task: MiningTask) -> dict:
    """CPU and system seconds, minor page faults, the task's stage timings and formula count."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu": time.process_time(),
        "sys": r.ru_stime,
        "faults": r.ru_minflt,
        "stages": task.timings(),
        "formulas": task.n_offered,
    }


def run_budget(
    searcher,
    task: MiningTask,
    *,
    formulas: int = 0,
    tokens: int = 0,
    minutes: float = 0.0,
    every: int = 0,
    on_every: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Run a searcher until ``formulas`` formulas or ``tokens`` tokens are spent (or, as a cap
    or the only budget, ``minutes`` of wall clock); returns wall and CPU seconds, whether the
    clock stopped it, and (with a formula budget) the usage after half of the formulas, read
    between two formulas without changing the run. ``on_every()`` is called each time another
    ``every`` formulas have been offered (its CPU time counts in the run's)."""
    if formulas <= 0 and tokens <= 0 and minutes <= 0:
        raise SystemExit("give --formulas, --tokens or --minutes")
    deadline = time.monotonic() + minutes * 60.0 if minutes > 0 else None
    half: dict = {}
    mark = [every]

    def done() -> bool:
        if not half and formulas > 0 and task.n_offered >= formulas // 2:
            half.update(_usage(task))
        while every > 0 and on_every is not None and task.n_offered >= mark[0]:
            on_every()
            mark[0] += every
        if formulas > 0 and task.n_offered >= formulas:
            return True
        return tokens > 0 and searcher.steps_done >= tokens

    start, cpu = time.perf_counter(), time.process_time()
    capped = False
    while not done():
        if deadline is not None and time.monotonic() >= deadline:
            capped = True
            break
        left = tokens - searcher.steps_done if tokens > 0 else 1 << 30
        searcher.run_chunk(left, deadline=deadline, until=done)
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "capped": capped,
        "half": half,
    }


def second_half(half: dict, task: MiningTask) -> dict[str, float]:
    """Formulas per CPU second, CPU ms per formula by stage, system ms and page faults per
    formula over the second half of a formula budget (the evaluation cache full by then)."""
    if not half:
        return {}
    end = _usage(task)
    n = max(end["formulas"] - half["formulas"], 1)
    cpu = end["cpu"] - half["cpu"]
    stages = {
        k: 1e3 * (end["stages"].get(k, 0.0) - half["stages"].get(k, 0.0)) / n
        for k in STAGES
        if k != "search"
    }
    stages["search"] = 1e3 * cpu / n - 1e3 * (end["stages"]["total"] - half["stages"]["total"]) / n
    stages["total"] = 1e3 * cpu / n
    return {
        "formulas_per_cpu_s": n / max(cpu, 1e-9),
        "sys_ms": 1e3 * (end["sys"] - half["sys"]) / n,
        "faults": (end["faults"] - half["faults"]) / n,
        "breakdown": stages,
    }


def breakdown(searcher, task: MiningTask, cpu_seconds: float) -> dict[str, float]:
    """CPU milliseconds per formula by stage (see the module docstring)."""
    n = max(task.n_offered, 1)
    parts = task.timings()
    out = {k: 1e3 * parts.get(k, 0.0) / n for k in STAGES if k != "search"}
    out["search"] = 1e3 * max(0.0, cpu_seconds - parts["total"]) / n
    if isinstance(searcher, PPOMiner):
        grammar = sum(env.grammar_seconds for env in searcher.envs)
        out["ppo_update"] = 1e3 * searcher.update_seconds / n
        out["ppo_grammar"] = 1e3 * grammar / n
    out["total"] = 1e3 * cpu_seconds / n
    return out


def _warm_up(panel, vocab: Vocabulary) -> None:
    """Compile every operator's kernel once (numba) so no method pays for it."""
    small = panel.select(list(panel.symbols[:5]))
    for name in vocab.operators:
        spec = OPERATORS[name]
        args = ["$close", "$volume"][: spec.n_inputs]
        if spec.params:
            args.append("10")
        evaluate(f"{name}({','.join(args)})", small)


def _ppo_config(text: str) -> PPOConfig:
    """PPOConfig with ``key=value`` overrides separated by commas."""
    kw: dict[str, float | int | bool] = {}
    defaults = PPOConfig().to_dict()
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if key not in defaults:
            raise SystemExit(f"unknown PPOConfig field {key!r}")
        kind = type(defaults[key])
        kw[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return PPOConfig(**kw)


def report(rows: list[dict]) -> None:
    """Print the comparison table, the per-method means over seeds, the verdict and the pools."""
    seeds = sorted({r["seed"] for r in rows})
    head = (
        f"{'method':8s} {'seed':>4s} {'pool':>4s} {'train IC':>9s} {'valid IC':>9s} {'test IC':>8s} "
        f"{'RankIC':>8s} {'ICIR':>7s} {'formulas':>8s} {'form/s':>7s} {'cpu f/s':>7s}"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['method']:8s} {r['seed']:4d} {r['pool']:4d} {r['train_ic']:9.4f} {r['valid_ic']:9.4f} "
            f"{r['test_ic']:8.4f} {r['test_rank_ic']:8.4f} {r['test_icir']:7.3f} "
            f"{r['formulas']:8d} {r['formulas_per_s']:7.1f} {r.get('formulas_per_cpu_s', 0.0):7.1f}"
        )
    means: dict[str, dict[str, float]] = {}
    for m in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == m]
        means[m] = {
            k: float(np.mean([r[k] for r in sel]))
            for k in ("test_ic", "test_rank_ic", "test_icir", "formulas_per_s")
        }
        if len(seeds) > 1:
            sd = float(np.std([r["test_rank_ic"] for r in sel], ddof=1))
            print(
                f"{m:8s} mean of {len(sel)} seeds: test IC {means[m]['test_ic']:.4f}  "
                f"RankIC {means[m]['test_rank_ic']:.4f} (sd {sd:.4f})  ICIR "
                f"{means[m]['test_icir']:.3f}  form/s {means[m]['formulas_per_s']:.1f}"
            )
    if "ppo" in means and len(means) > 1:
        others = [v["test_rank_ic"] for m, v in means.items() if m != "ppo"]
        verdict = "met" if means["ppo"]["test_rank_ic"] >= max(others) else "NOT met"
        for m in (m for m in means if m != "ppo"):
            wins = sum(
                p["test_rank_ic"] >= q["test_rank_ic"]
                for p in rows
                if p["method"] == "ppo"
                for q in rows
                if q["method"] == m and q["seed"] == p["seed"]
            )
            print(f"ppo >= {m} in test RankIC in {wins} of {len(seeds)} seeds")
        print(f"\ntarget (RL mean test RankIC >= both baselines'): {verdict}")
    print("\nCPU ms per formula by stage (search = the searcher's own time):")
    cols = [*STAGES, "total"]
    print(f"{'method':8s} {'seed':>4s} " + " ".join(f"{c[:10]:>10s}" for c in cols))
    for r in rows:
        b = r.get("breakdown", {})
        print(
            f"{r['method']:8s} {r['seed']:4d} " + " ".join(f"{b.get(c, 0.0):10.2f}" for c in cols)
        )
        h = r.get("second_half") or {}
        if h:
            hb = h["breakdown"]
            print(
                f"{'  2nd half':13s} " + " ".join(f"{hb.get(c, 0.0):10.2f}" for c in cols)
                + f"   ({h['formulas_per_cpu_s']:.1f} formulas per CPU second; system "
                f"{h['sys_ms']:.2f} ms and {h['faults']:.0f} page faults per formula)"
            )  # fmt: skip
            floor = hb.get("evaluate", 0.0) + hb.get("search", 0.0)
            if floor > 0:
                print(
                    f"{'':13s} with a pool that cost nothing: {1000.0 / floor:.0f} formulas per "
                    "CPU second (evaluation and the searcher alone)"
                )
        if "ppo_update" in b:
            share = b["search"] / b["total"] if b["total"] else float("nan")
            print(
                f"{'':13s} PPO's own time {share:.0%} of its CPU time: updates "
                f"{b['ppo_update']:.2f}, grammar {b['ppo_grammar']:.2f}, policy forward and "
                f"rollouts {b['search'] - b['ppo_update'] - b['ppo_grammar']:.2f} ms/formula"
            )
    for r in rows:
        judge = r.get("judge_min", float("nan"))
        print(f"\n{r['method']} pool (seed {r['seed']}), lowest logic-judge score {judge:.2f}:")
        for f, w in r["members"]:
            print(f"  {w:+.4f}  {f}")


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options; ``build_parser().parse_args([])`` is its default design."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formulas", type=int, default=0, help="formula budget per method and seed")
    ap.add_argument("--tokens", type=int, default=0, help="token budget per method and seed")
    ap.add_argument(
        "--minutes", type=float, default=0.0,
        help="wall-clock cap per method and seed (the budget when no formula or token budget)",
    )  # fmt: skip
    ap.add_argument("--units", default="on", choices=("on", "off"), help="the grammar's units")
    ap.add_argument(
        "--max-depth", type=int, default=Vocabulary.max_depth,
        help="deepest formula tree the grammar writes (a bare feature is 1 deep)",
    )  # fmt: skip
    ap.add_argument(
        "--max-len", type=int, default=Vocabulary.max_len,
        help="longest formula the grammar writes, in tokens (the end token not counted)",
    )  # fmt: skip
    ap.add_argument(
        "--cache-mb", type=int, default=128, help="evaluation cache shared within a run (0: none)"
    )
    ap.add_argument(
        "--reward-weights", default="",
        help="AlphaEval-aware reward, e.g. gain=1,stability=0.5,robustness=0.5 (default: gain)",
    )  # fmt: skip
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default="", help="comma-separated seeds (overrides --seed)")
    ap.add_argument("--capacity", type=int, default=10)
    ap.add_argument("--methods", default="ppo,random,gp")
    ap.add_argument("--max-symbols", type=int, default=0, help="use the first n symbols only")
    ap.add_argument("--objective", default="ic", choices=("ic", "rank_ic"), help="pool objective")
    ap.add_argument("--transform", default="rank", choices=("zscore", "rank"))
    ap.add_argument("--blocks", type=int, default=3, help="train blocks a gain must hold in")
    ap.add_argument(
        "--purge", type=int, default=HORIZON,
        help="rows on each side of a held-out block left out of the cross-validated fit",
    )  # fmt: skip
    ap.add_argument(
        "--min-coverage",
        type=float,
        default=0.5,
        help="share of the label's cells a candidate must be finite on (0: any)",
    )
    ap.add_argument(
        "--one-sided",
        type=float,
        default=ONE_SIDED,
        help="refuse a comparison taking one outcome on this share of the training cells (0: off)",
    )
    ap.add_argument(
        "--date-step", type=int, default=1,
        help="score candidates on every k-th training date (the pool's date_step)",
    )  # fmt: skip
    ap.add_argument(
        "--neutralize", default="styles",
        help="'styles' (log price, log dollar volume, volatility), 'none' or formulas joined by ';'",
    )  # fmt: skip
    ap.add_argument(
        "--valid-gate", action="store_true", help="accept only gains on the validation split"
    )
    ap.add_argument(
        "--cv-gate", default="off", choices=CV_GATES,
        help="also accept only changes whose cross-validated gain is positive: on average over "
        "the held-out blocks (mean) or in every held-out block (every)",
    )  # fmt: skip
    ap.add_argument(
        "--t-gate", default="off", choices=T_GATES,
        help="also accept only changes whose per-date gain has a Newey-West t above the expected "
        "maximum of as many standard normals as candidates offered (deflated)",
    )  # fmt: skip
    ap.add_argument(
        "--idle-constants", default="on", choices=("on", "off"),
        help="refuse a candidate whose factor a scaled constant leaves as it was (off: keep)",
    )  # fmt: skip
    ap.add_argument(
        "--simplify", type=float, default=0.0,
        help="add an acceptable candidate in its simplest acceptable one-step-deletion form, "
        "within this share of its gain (quantrl.mining.simplify; negative: as offered)",
    )  # fmt: skip
    ap.add_argument(
        "--simplify-reach", type=int, default=1, choices=(1, 2),
        help="deletions a simplification step may take (2: two when no single one serves)",
    )  # fmt: skip
    ap.add_argument(
        "--reward", default="cv", choices=REWARD_BASES,
        help="PPO reward: cross-validated or in-sample marginal pool gain, or the net gain",
    )  # fmt: skip
    ap.add_argument("--ppo", default="", help="PPOConfig overrides, e.g. n_epochs=2,d_model=32")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument(
        "--merge", type=Path, nargs="+", default=None,
        help="print the table of runs saved with --json (e.g. seeds split across processes)",
    )  # fmt: skip
    return ap


@dataclass
class MiningInputs:
    """The workload's splits, their 20-day labels, vocabulary, reward weights and exposures."""

    panel: Panel
    train: Panel
    valid: Panel
    test: Panel
    labels: dict[str, np.ndarray]
    vocab: Vocabulary
    weights: RewardWeights
    exposures: list[str]


def load_inputs(args: argparse.Namespace, panel: Panel | None = None) -> MiningInputs:
    """Split the S&P 500 panel (or ``panel``, a market with the same split dates), label each
    split, build the vocabulary and exposures, and compile every operator once."""
    if panel is None:
        panel = load_market("sp500")
    if args.max_symbols:
        panel = panel.select(list(panel.symbols[: args.max_symbols]))
    train, valid, test = panel.split(*split_dates("sp500"), warmup=250)
    labels = {
        n: p.forward_returns(HORIZON)
        for n, p in (("train", train), ("valid", valid), ("test", test))
    }
    vocab = Vocabulary(
        features=("open", "high", "low", "close", "volume"),
        units=args.units,
        max_len=args.max_len,
        max_depth=args.max_depth,
    )
    weights = RewardWeights.from_value(
        {k: float(v) for k, v in (x.split("=") for x in args.reward_weights.split(",") if x)}
    )
    _warm_up(train, vocab)
    name = args.neutralize
    exposures = exposure_formulas(
        name if name in ("styles", "none") else [f for f in name.split(";") if f]
    )
    return MiningInputs(panel, train, valid, test, labels, vocab, weights, exposures)


def split_metrics(pool: AlphaPool, panel: Panel, label: np.ndarray) -> dict[str, float]:
    """IC, RankIC, ICIR and RankICIR of the pool's combined factor on one split (fresh cache)."""
    return pool.evaluate_on(panel, label, cache=EvalCache(max_bytes=256 << 20))


def _quantiles(values: list[float]) -> dict[str, float]:
    """Count and 0/5/25/50/75/95/100 % quantiles of the blended reward's quality factors."""
    if not values:
        return {"n": 0}
    qs = np.quantile(np.asarray(values), [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    keys = ("min", "q05", "q25", "median", "q75", "q95", "max")
    return {"n": len(values), **{k: float(q) for k, q in zip(keys, qs, strict=True)}}


def mine(
    method: str,
    seed: int,
    inputs: MiningInputs,
    args: argparse.Namespace,
    *,
    every: int = 0,
    on_every: Callable[[AlphaPool, MiningTask], None] | None = None,
) -> tuple[AlphaPool, dict]:
    """Run one method with one seed at the budget of ``args``; returns the final pool and its
    row of training and validation figures (no test-split figures). ``on_every(pool, task)``
    sees the pool each time another ``every`` formulas have been offered."""
    pool = AlphaPool(
        args.capacity,
        objective=args.objective,
        transform=args.transform,
        blocks=args.blocks,
        purge=args.purge,
        neutralize=inputs.exposures,
        min_coverage=args.min_coverage,
        date_step=args.date_step,
        one_sided=args.one_sided,
        cv_gate=args.cv_gate,
        t_gate=args.t_gate,
        idle_constants=args.idle_constants == "on",
    )
    cache = EvalCache(max_bytes=max(args.cache_mb << 20, 1))
    task = MiningTask(
        inputs.train, inputs.labels["train"], pool, cache=cache, reward_basis=args.reward,
        reward_weights=inputs.weights,
        simplifier=None
        if args.simplify < 0
        else Simplifier(inputs.vocab, args.simplify, reach=args.simplify_reach),
    )  # fmt: skip
    if args.valid_gate:
        pool.bind_validation(inputs.valid, inputs.labels["valid"])
    searcher = make_searcher(method, task, inputs.vocab, seed=seed, ppo=_ppo_config(args.ppo))
    spent = run_budget(
        searcher, task, formulas=args.formulas, tokens=args.tokens, minutes=args.minutes,
        every=every, on_every=None if on_every is None else lambda: on_every(pool, task),
    )  # fmt: skip
    seconds = spent["seconds"]
    valid_m = split_metrics(pool, inputs.valid, inputs.labels["valid"])
    judge = RuleBasedJudge()
    row = {
        "method": method,
        "seed": seed,
        "pool": len(pool),
        "train_ic": pool.objective,
        "valid_ic": valid_m["ic"],
        "valid_rank_ic": valid_m["rank_ic"],
        "formulas": task.n_offered,
        "steps": searcher.steps_done,
        "formulas_per_s": task.n_offered / seconds,
        "formulas_per_cpu_s": task.n_offered / max(spent["cpu_seconds"], 1e-9),
        "seconds": seconds,
        "cpu_seconds": spent["cpu_seconds"],
        "capped": spent["capped"],
        "repeats": task.n_repeats,
        "simplified": 0 if task.simplifier is None else task.simplifier.n_simplified,
        "breakdown": breakdown(searcher, task, spent["cpu_seconds"]),
        "second_half": second_half(spent["half"], task),
        "reward_quality": _quantiles(task.qualities),
        "judge_min": min((judge.judge(f).score for f in pool.formulas), default=float("nan")),
        "members": list(zip(pool.formulas, [float(w) for w in pool.weights], strict=True)),
    }
    return pool, row


def main() -> None:
    """Run the three miners and print the comparison table."""
    args = build_parser().parse_args()
    if args.merge:
        order = {m: i for i, m in enumerate(args.methods.split(","))}
        rows = [r for path in args.merge for r in json.loads(path.read_text())]
        report(sorted(rows, key=lambda r: (r["seed"], order.get(r["method"], len(order)))))
        return

    inputs = load_inputs(args)
    panel, train, valid, test = inputs.panel, inputs.train, inputs.valid, inputs.test
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    print(
        f"S&P 500: {panel.n_symbols} symbols; train {train.n_dates} / valid "
        f"{valid.n_dates - valid.warmup} / test {test.n_dates - test.warmup} dates; budget "
        f"{args.formulas or '-'} formulas / {args.tokens or '-'} tokens / "
        f"{args.minutes or '-'} min per method; pool of {args.capacity}, seeds {seeds}; units "
        f"{args.units}; evaluation cache {args.cache_mb} MB"
    )
    print(
        f"pool: objective {args.objective}, transform {args.transform}, blocks {args.blocks} "
        f"(purge {args.purge}), coverage >= {args.min_coverage:g}, one-sided comparisons "
        f"{f'refused at {args.one_sided:g}' if args.one_sided else 'kept'}, scored on "
        f"{'every date' if args.date_step == 1 else f'every {args.date_step}th date'}, "
        f"validation gate {'on' if args.valid_gate else 'off'}, idle constants "
        f"{'refused' if args.idle_constants == 'on' else 'kept'}; neutralised against "
        f"{', '.join(inputs.exposures) or 'nothing'}; PPO reward {args.reward}, "
        f"{args.ppo or 'defaults'}"
    )
    rows = []
    for seed, method in [(sd, m) for sd in seeds for m in args.methods.split(",")]:
        pool, row = mine(method, seed, inputs, args)
        test_m = split_metrics(pool, test, inputs.labels["test"])
        row.update(
            test_ic=test_m["ic"],
            test_rank_ic=test_m["rank_ic"],
            test_icir=test_m["icir"],
            test_rank_icir=test_m["rank_icir"],
        )
        rows.append(row)
        print(
            f"  {method} seed {seed}: {row['seconds']:.0f} s ({row['cpu_seconds']:.0f} s CPU"
            f"{', stopped by the clock' if row['capped'] else ''}), {row['formulas']} formulas "
            f"({row['repeats']} repeats, {row['simplified']} added in a simpler form), "
            f"test RankIC {test_m['rank_ic']:.4f}",
            flush=True,
        )

    report(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
