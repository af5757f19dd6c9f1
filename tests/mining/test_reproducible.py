"""One seed gives the same numbers in every process: string hashing and numba's cache change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SEARCH = textwrap.dedent(
    """
    import json
    import quantrl
    from quantrl.mining import MiningTask, Vocabulary
    from quantrl.mining.baselines import GeneticSearch, RandomSearch
    from quantrl.mining.neutral import DEFAULT_STYLE_EXPOSURES
    from quantrl.mining.pool import AlphaPool
    from quantrl.mining.simplify import Simplifier

    panel = quantrl.load_market("sp500", start="2015-01-01", end="2016-03-31")
    panel = panel.select(list(panel.symbols[:40]))
    label = panel.forward_returns(20)
    out = {}
    for name, cls, kw in [("random", RandomSearch, {}), ("gp", GeneticSearch, {"population": 10})]:
        pool = AlphaPool(4, blocks=3, transform="rank", neutralize=DEFAULT_STYLE_EXPOSURES)
        vocab = Vocabulary(max_len=10)
        task = MiningTask(panel, label, pool, simplifier=Simplifier(vocab))
        search = cls(task, vocab, seed=5, **kw)
        offers = []
        original = task.offer

        def offer(expr, original=original, offers=offers):
            reward, r = original(expr)
            offers.append([r.formula, r.reason, reward.hex(), r.gain.hex(), r.objective.hex(),
                           r.single_ic.hex(), r.max_mutual.hex(), r.marginal_gain.hex(),
                           r.marginal_cv_gain.hex(), r.worst_block_gain.hex(), r.simplified])
            return reward, r

        task.offer = offer
        search.run_chunk(250)
        out[name] = {"offers": offers, "formulas": pool.formulas,
                     "weights": [float(w).hex() for w in pool.weights]}
    print(json.dumps(out))
    """
)

KERNELS = textwrap.dedent(
    """
    import hashlib
    import numpy as np
    from quantrl.kernels.correlation import pearson_rows_nb
    from quantrl.kernels.projection import cross_sums, factor_sums, neutralize_rows_into
    from quantrl.mining.transforms import transform_rows

    rng = np.random.default_rng(3)
    t, n, k = 300, 83, 4
    values = rng.standard_normal((t, n))
    values[rng.random((t, n)) < 0.05] = np.nan
    design = rng.standard_normal((t, k, n))
    design[:, 0, :] = 1.0
    ok = rng.random((t, n)) > 0.02
    design *= ok[:, None, :]
    gram = np.einsum("tkn,tjn->tkj", design, design) + 1e-9 * np.eye(k)
    gram_inv = np.linalg.inv(gram)
    universe = rng.random((t, n)) > 0.1
    digest = hashlib.sha256()
    for transform in ("zscore", "rank"):
        z = transform_rows(values, transform)
        out = neutralize_rows_into(
            values, z, ok, design, gram, gram_inv, np.empty_like(z), universe
        )
        digest.update(out.tobytes())
        zbuf = rng.standard_normal((t, 5, n))
        for part in factor_sums(out, z, out[::-1].copy()):
            digest.update(part.tobytes())
        digest.update(cross_sums(zbuf, out, np.array([4, 0, 2, 1, 3])).tobytes())
        digest.update(pearson_rows_nb(out, values).tobytes())
    print(digest.hexdigest())
    """
)


def _run(code: str, **env: str) -> str:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1", **env}
    done = subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_search_is_identical_under_different_hash_seeds():
    """Random search and GP, offer by offer, to the last bit, with PYTHONHASHSEED 0 and 1."""
    a = json.loads(_run(SEARCH, PYTHONHASHSEED="0"))
    b = json.loads(_run(SEARCH, PYTHONHASHSEED="1"))
    for method in ("random", "gp"):
        assert len(a[method]["offers"]) > 10
        assert a[method]["formulas"], method  # the pool took something
        assert any(offer[-1] for offer in a[method]["offers"]), method  # and simplified some
        assert a[method] == b[method], method


@pytest.mark.slow
def test_pool_kernels_match_between_fresh_compile_and_numba_cache(tmp_path):
    """The pool's row sums and the Pearson rows give the same bits freshly compiled and cached."""
    cache = str(tmp_path / "numba-cache")
    fresh = _run(KERNELS, NUMBA_CACHE_DIR=cache, PYTHONHASHSEED="0")
    assert any(Path(cache).rglob("*.nbi"))  # the first run wrote the cache ...
    cached = _run(KERNELS, NUMBA_CACHE_DIR=cache, PYTHONHASHSEED="1")  # ... the second reads it
    assert fresh == cached
