"""The miner's grammar: how long the masked sampler takes to write a formula, cold and warm.

Random search, GP and PPO all ask ``GrammarState`` for the admissible next tokens; with units on
(the default) a mask is the cheapest completion of each token, memoised by a compact key, so a
fresh grammar is slow until its memo tables fill. For each vocabulary (the default, depth 4, 12
tokens) the script samples ``--formulas`` formulas from a fresh grammar (cold), then
``--formulas`` more once ``--warm`` have been drawn (warm), best of ``--repeats`` fresh grammars,
and prints ms a formula beside the units-off grammar with the same seed and counts (it tracks
token kinds only: the reference), with a digest of the formulas so two versions of the grammar
can be checked to write the same ones.

    .venv/bin/python -m benchmarks.bench_grammar --formulas 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np

from benchmarks.harness import print_table
from quantrl.mining.baselines import sample_formula
from quantrl.mining.tokens import GrammarState, Vocabulary, _unit_grammar

VOCABS = {
    "default (depth 6, 20 tokens)": {},
    "depth 4": {"max_depth": 4},
    "12 tokens": {"max_len": 12},
}


def _draws(vocab: Vocabulary, seed: int, n: int, skip: int) -> tuple[float, float, str]:
    """Seconds for the first ``n`` draws of a fresh grammar, for ``n`` draws after ``skip``
    more, and a digest of all the formulas drawn."""
    _unit_grammar.cache_clear()  # a fresh grammar: nothing memoised
    state = GrammarState(vocab)
    rng = np.random.default_rng(seed)
    digest = hashlib.sha256()

    def draw(k: int) -> float:
        start = time.process_time()
        texts = [str(sample_formula(vocab, rng, state)) for _ in range(k)]
        elapsed = time.process_time() - start
        digest.update("\n".join(texts).encode())
        return elapsed

    cold = draw(n)
    draw(skip)
    warm = draw(n)
    return cold, warm, digest.hexdigest()[:12]


def main() -> None:
    """Time the sampler per vocabulary and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formulas", type=int, default=2000, help="draws timed, cold and warm")
    ap.add_argument("--warm", type=int, default=12000, help="draws before the warm timing")
    ap.add_argument("--repeats", type=int, default=3, help="fresh grammars; the best is shown")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    rows = []
    for name, settings in VOCABS.items():
        times: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
        digests = set()
        for _ in range(args.repeats):
            for units in ("on", "off"):
                vocab = Vocabulary(units=units, **settings)
                cold, warm, digest = _draws(vocab, args.seed, args.formulas, args.warm)
                times[units].append((cold, warm))
                if units == "on":
                    digests.add(digest)
        if len(digests) != 1:
            raise RuntimeError(f"{name}: the same seed drew different formulas across repeats")
        on_cold, on_warm = (min(t[i] for t in times["on"]) for i in (0, 1))
        off_cold, off_warm = (min(t[i] for t in times["off"]) for i in (0, 1))
        n = args.formulas
        rows.append(
            {
                "vocabulary": name,
                "cold ms": 1e3 * on_cold / n,
                "warm ms": 1e3 * on_warm / n,
                "units off, cold ms": 1e3 * off_cold / n,
                "cold / units off": on_cold / off_cold,
                "warm / units off": on_warm / off_warm,
                "formulas digest": digests.pop(),
            }
        )
    print_table(
        f"Masked sampling, CPU ms a formula (seed {args.seed}; cold: the first "
        f"{args.formulas:,} draws of a fresh grammar; warm: {args.formulas:,} draws after "
        f"{args.warm:,} more; best of {args.repeats})",
        rows,
    )


if __name__ == "__main__":
    main()
