"""Does a formula's training IC predict its test IC? Random masked formulas, raw and neutralised.

Samples distinct formulas from the miner's grammar (the same sampler as random search), scores
each one alone on the S&P 500 train / valid / test splits of workload M (RankIC against the
20-day forward return, per date, averaged) as it is and after per-date neutralisation against
the style exposures (``quantrl.mining.neutral.DEFAULT_STYLE_EXPOSURES``), and prints the
correlation across formulas of their train, valid and test ICs, overall and by formula length.
A miner can only beat random search out of sample where this correlation is positive: where it
is negative, fitting the training split better means scoring worse on the test split.

    .venv/bin/python benchmarks/ic_transfer.py --formulas 800 --seed 0
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from quantrl.alpha import EvalCache, evaluate
from quantrl.data import load_market
from quantrl.data.splits import split_dates
from quantrl.errors import FormulaError
from quantrl.mining import Vocabulary
from quantrl.mining.baselines import rpn_length, sample_formula
from quantrl.mining.neutral import DEFAULT_STYLE_EXPOSURES, Exposures, neutralize_rows
from quantrl.stats.ic import rank_ic_series


def _mean_ic(values: np.ndarray, label: np.ndarray, warmup: int) -> float:
    s = rank_ic_series(values[warmup:], label[warmup:])
    finite = s[np.isfinite(s)]
    return float(finite.mean()) if finite.size >= 0.5 * s.size else float("nan")


def main() -> None:
    """Score random formulas on the three splits and print the IC transfer correlations."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formulas", type=int, default=800)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    panel = load_market("sp500")
    parts = panel.split(*split_dates("sp500"), warmup=250)
    splits = dict(zip(("train", "valid", "test"), parts, strict=True))
    labels = {k: p.forward_returns(20) for k, p in splits.items()}
    expo = {k: Exposures(DEFAULT_STYLE_EXPOSURES, p, transform="rank") for k, p in splits.items()}
    caches = {k: EvalCache(max_bytes=512 << 20) for k in splits}
    vocab = Vocabulary(features=("open", "high", "low", "close", "volume"))
    rng = np.random.default_rng(args.seed)
    rows: list[list[float]] = []
    seen: set[str] = set()
    start = time.monotonic()
    while len(rows) < args.formulas:
        expr = sample_formula(vocab, rng)
        if str(expr) in seen:
            continue
        seen.add(str(expr))
        row = [float(rpn_length(expr))]
        try:
            for k, p in splits.items():
                v = np.asarray(evaluate(expr, p, cache=caches[k]), dtype=np.float64)
                w = int(getattr(p, "warmup", 0) or 0)
                neutral = np.where(np.isfinite(v), neutralize_rows(v, expo[k], "rank"), np.nan)
                row += [_mean_ic(v, labels[k], w), _mean_ic(neutral, labels[k], w)]
        except FormulaError:
            continue
        if np.all(np.isfinite(row)):
            rows.append(row)
    a = np.asarray(rows)
    print(
        f"{len(a)} random formulas (seed {args.seed}) in {time.monotonic() - start:.0f} s; "
        f"neutralised against {', '.join(DEFAULT_STYLE_EXPOSURES)}"
    )
    length = a[:, 0]
    for j, name in ((1, "raw"), (2, "neutralised")):
        tr, va, te = a[:, j], a[:, j + 2], a[:, j + 4]
        print(
            f"{name:12s} corr(train, test) {np.corrcoef(tr, te)[0, 1]:+.3f}  corr(train, valid) "
            f"{np.corrcoef(tr, va)[0, 1]:+.3f}  corr(valid, test) {np.corrcoef(va, te)[0, 1]:+.3f}"
            f"  mean |IC| train {np.abs(tr).mean():.4f} test {np.abs(te).mean():.4f}"
        )
        for lo, hi in ((1, 4), (5, 10), (11, 21)):
            m = (length >= lo) & (length <= hi)
            if m.sum() > 10:
                c = np.corrcoef(tr[m], te[m])[0, 1]
                print(
                    f"{'':12s} {lo}-{hi} tokens: {m.sum():4d} formulas, corr(train, test) {c:+.3f}"
                )


if __name__ == "__main__":
    main()
