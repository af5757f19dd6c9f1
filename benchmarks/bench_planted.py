"""Planted-alpha benchmark: how much of a known signal each miner recovers at a fixed token budget.

A synthetic market (``benchmarks/planted.py``: 300 stocks x 1,500 days by default, seeded) whose
20-day forward returns follow planted formulas plus noise is split 60 / 20 / 20 into train /
valid / test. PPO, masked random search and genetic programming each mine a pool of 10 on the
training split, at the same budget of TOKENS (formula length + 1 per formula, as the RL env
counts them; ``--minutes`` is only an optional cap), per method and seed. The pool is the
workload M pool without style neutralisation (per-date rank transform, 3 training blocks,
cross-validated reward, accepted formulas added in their simplest acceptable form; ``--simplify
-1`` adds them as offered). The table shows, for each run, the final pool's test IC and its share
of the ceiling (the test IC of the planted signal itself against the realised label), and how
many planted formulas the pool holds verbatim. With a token budget and no cap hit, a seed
reproduces its numbers exactly.

    .venv/bin/python -m benchmarks.bench_planted --tokens 20000 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_mining import _ppo_config, _warm_up, breakdown, run_budget
from benchmarks.planted import PLANTED, make_planted_market
from quantrl.alpha import EvalCache
from quantrl.evaluation.logic import RuleBasedJudge
from quantrl.jobs.harness import make_searcher
from quantrl.mining import MiningTask, Vocabulary
from quantrl.mining.pool import AlphaPool
from quantrl.mining.simplify import Simplifier


def report(rows: list[dict]) -> None:
    """Print the side-by-side table and the per-method means."""
    head = (
        f"{'method':8s} {'seed':>4s} {'tokens':>7s} {'formulas':>8s} {'pool':>4s} "
        f"{'train IC':>8s} {'test IC':>8s} {'ceiling':>8s} {'share':>6s} {'found':>5s} "
        f"{'judge':>5s} {'cpu s':>6s}"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['method']:8s} {r['seed']:4d} {r['tokens']:7d} {r['formulas']:8d} {r['pool']:4d} "
            f"{r['train_ic']:8.4f} {r['test_ic']:8.4f} {r['ceiling']:8.4f} {r['share']:6.1%} "
            f"{r['found']:5d} {r['judge_min']:5.2f} {r['cpu_seconds']:6.0f}"
        )
    print()
    for m in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == m]
        shares = [r["share"] for r in sel]
        print(
            f"{m:8s} mean share of the ceiling over {len(sel)} seed(s): {np.mean(shares):.1%} "
            f"(min {min(shares):.1%}, max {max(shares):.1%}); best pool {max(shares):.1%}"
        )
    for r in rows:
        print(f"\n{r['method']} pool (seed {r['seed']}):")
        for f, w in r["members"]:
            print(f"  {w:+.4f}  {f}")


def main() -> None:
    """Simulate the market, mine it with each method and seed, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=20000, help="token budget per method and seed")
    ap.add_argument("--minutes", type=float, default=0.0, help="optional wall-clock cap")
    ap.add_argument("--methods", default="ppo,random,gp")
    ap.add_argument("--seeds", default="0", help="comma-separated search seeds")
    ap.add_argument("--market-seed", type=int, default=0)
    ap.add_argument("--symbols", type=int, default=300)
    ap.add_argument("--days", type=int, default=1500)
    ap.add_argument("--strength", type=float, default=0.04, help="planted signal strength")
    ap.add_argument("--units", default="on", choices=("on", "off"))
    ap.add_argument("--capacity", type=int, default=10)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument(
        "--simplify", type=float, default=0.0,
        help="add accepted formulas in their simplest acceptable form within this share of "
        "their gain (negative: as offered)",
    )  # fmt: skip
    ap.add_argument("--ppo", default="", help="PPOConfig overrides, e.g. n_epochs=2,d_model=32")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--merge", type=Path, nargs="+", default=None, help="print saved runs")
    args = ap.parse_args()
    if args.merge:
        report([r for path in args.merge for r in json.loads(path.read_text())])
        return

    start = time.perf_counter()
    market = make_planted_market(
        n_symbols=args.symbols, n_days=args.days, strength=args.strength, seed=args.market_seed
    )
    train, test = market.splits["train"], market.splits["test"]
    ceiling = market.ceiling("test")
    print(
        f"planted market: {args.symbols} symbols x {args.days} days (seed {args.market_seed}, "
        f"strength {args.strength:g}), simulated in {time.perf_counter() - start:.0f} s; train "
        f"{train.n_dates} / valid {market.splits['valid'].n_dates - market.splits['valid'].warmup}"
        f" / test {test.n_dates - test.warmup} dates"
    )
    for f, w in PLANTED:
        print(f"  planted {w:+.1f} x zrank({f})")
    print(
        f"ceiling (planted signal vs realised label): test IC {ceiling['ic']:.4f}, RankIC "
        f"{ceiling['rank_ic']:.4f}; train IC {market.ceiling('train')['ic']:.4f}"
    )
    vocab = Vocabulary(features=("open", "high", "low", "close", "volume"), units=args.units)
    _warm_up(train, vocab)
    judge = RuleBasedJudge()
    ppo = _ppo_config(args.ppo)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for method in args.methods.split(","):
            pool = AlphaPool(
                args.capacity, transform="rank", blocks=args.blocks, purge=market.horizon
            )
            simplifier = None if args.simplify < 0 else Simplifier(vocab, args.simplify)
            task = MiningTask(
                train, market.labels["train"], pool, cache=EvalCache(max_bytes=256 << 20),
                simplifier=simplifier,
            )  # fmt: skip
            searcher = make_searcher(method, task, vocab, seed=seed, ppo=ppo)
            spent = run_budget(searcher, task, tokens=args.tokens, minutes=args.minutes)
            test_m = pool.evaluate_on(test, market.labels["test"], cache=EvalCache(256 << 20))
            row = {
                "method": method,
                "seed": seed,
                "tokens": int(searcher.steps_done),
                "formulas": task.n_offered,
                "pool": len(pool),
                "train_ic": pool.objective,
                "test_ic": test_m["ic"],
                "test_rank_ic": test_m["rank_ic"],
                "ceiling": ceiling["ic"],
                "share": test_m["ic"] / ceiling["ic"],
                "found": sum(f in pool.formulas for f in market.formulas),
                "judge_min": min((judge.judge(f).score for f in pool.formulas), default=0.0),
                "cpu_seconds": spent["cpu_seconds"],
                "capped": spent["capped"],
                "breakdown": breakdown(searcher, task, spent["cpu_seconds"]),
                "members": list(zip(pool.formulas, [float(w) for w in pool.weights], strict=True)),
            }
            rows.append(row)
            print(
                f"  {method} seed {seed}: {row['tokens']} tokens, {row['formulas']} formulas, "
                f"{spent['cpu_seconds']:.0f} s CPU, test IC {row['test_ic']:.4f} "
                f"({row['share']:.0%} of the ceiling)",
                flush=True,
            )
    report(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
