"""AlphaPool: weights equal a least-squares reference, objective equals the IC of the combination,
duplicates are rejected, the weakest member is dropped, JSON round trip, no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import quantrl
from quantrl.alpha import evaluate
from quantrl.alpha.pool import AlphaPool
from quantrl.errors import ConfigError

FORMULAS = [
    "Mean($close,20)/$close-1",
    "Std($close,20)/$close",
    "Corr($close,$volume,10)",
    "Log($volume)",
    "Delta($close,5)/$close",
]


@pytest.fixture(scope="module")
def panel():
    """50 S&P 500 stocks x ~300 days."""
    p = quantrl.load_market("sp500", start="2015-01-01", end="2016-03-31")
    return p.select(list(p.symbols[:50]))


def _zscore_ref(values: np.ndarray) -> np.ndarray:
    """Independent per-date z-score with pandas (ddof=0), missing -> 0."""
    df = pd.DataFrame(values)
    mean = df.mean(axis=1)
    std = df.std(axis=1, ddof=0)
    z = df.sub(mean, axis=0).div(std, axis=0)
    bad = (df.count(axis=1) < 2) | (std <= 0)
    z[bad] = np.nan
    return z.fillna(0.0).to_numpy()


def _pearson_by_date(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = []
    for t in range(x.shape[0]):
        ok = np.isfinite(x[t]) & np.isfinite(y[t])
        if ok.sum() < 2 or np.std(x[t, ok]) == 0 or np.std(y[t, ok]) == 0:
            continue
        out.append(np.corrcoef(x[t, ok], y[t, ok])[0, 1])
    return np.asarray(out)


def test_weights_match_lstsq_and_objective_matches_ic(panel):
    label = panel.forward_returns(20)
    pool = AlphaPool(10, min_gain=-1.0).bind(panel, label)  # accept every new formula
    for f in FORMULAS[:4]:
        assert pool.try_add(f).accepted
    universe = np.isfinite(label)
    zs = [np.where(universe, _zscore_ref(np.array(evaluate(f, panel))), 0.0) for f in pool.formulas]
    y = _zscore_ref(np.where(universe, label, np.nan))
    x = np.stack([z[universe] for z in zs], axis=1)
    ref, *_ = np.linalg.lstsq(x, y[universe], rcond=None)
    np.testing.assert_allclose(pool.weights, ref, rtol=1e-6, atol=1e-9)
    combo = sum(w * z for w, z in zip(ref, zs, strict=True))
    combo = np.where(universe, combo, np.nan)
    ic_ref = _pearson_by_date(combo, label).mean()
    assert pool.objective == pytest.approx(ic_ref, rel=1e-9, abs=1e-12)


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
def test_rank_ic_objective(panel):
    label = panel.forward_returns(20)
    pool = AlphaPool(5, objective="rank_ic", min_gain=-1.0).bind(panel, label)
    for f in FORMULAS[:3]:
        pool.try_add(f)
    universe = np.isfinite(label)
    zs = [np.where(universe, _zscore_ref(np.array(evaluate(f, panel))), 0.0) for f in pool.formulas]
    combo = np.where(universe, sum(w * z for w, z in zip(pool.weights, zs, strict=True)), np.nan)
    ref = []
    for t in range(label.shape[0]):
        ok = np.isfinite(combo[t]) & np.isfinite(label[t])
        if ok.sum() >= 2:
            r = pd.Series(combo[t, ok]).corr(pd.Series(label[t, ok]), method="spearman")
            if np.isfinite(r):
                ref.append(r)
    assert pool.objective == pytest.approx(np.mean(ref), rel=1e-9)


def test_duplicates_and_near_duplicates_rejected(panel):
    pool = AlphaPool(5).bind(panel, panel.forward_returns(20))
    assert pool.try_add("Mean($close,20)/$close").accepted
    before = (pool.formulas, pool.weights.copy(), pool.objective)
    dup = pool.try_add("Div(Mean($close,20),$close)")  # same canonical formula
    assert not dup.accepted and dup.reason == "duplicate" and dup.gain == 0.0
    near = pool.try_add("Mean($close,20)/$close*3-1")  # correlation 1 with the member
    assert not near.accepted and near.reason == "near-duplicate" and near.max_mutual > 0.99
    assert pool.formulas == before[0] and pool.objective == before[2]
    np.testing.assert_array_equal(pool.weights, before[1])


def test_full_pool_drops_smallest_abs_weight(panel):
    label = panel.forward_returns(20)
    pool = AlphaPool(3, min_gain=-1.0).bind(panel, label)
    for f in FORMULAS[:3]:
        pool.try_add(f)
    ref = AlphaPool(4, min_gain=-1.0).bind(panel, label)
    for f in FORMULAS[:4]:
        ref.try_add(f)
    weakest = ref.formulas[int(np.argmin(np.abs(ref.weights)))]
    res = pool.try_add(FORMULAS[3])
    assert len(pool) == 3
    if weakest == str(quantrl.alpha.parse(FORMULAS[3])):
        assert not res.accepted and res.reason == "dropped"
    else:
        assert res.dropped == (weakest,) and weakest not in pool.formulas
        survivors = [f for f in ref.formulas if f != weakest]
        assert pool.formulas == survivors


def test_gain_must_be_positive_by_default(panel):
    label = panel.forward_returns(20)
    pool = AlphaPool(5).bind(panel, label)
    pool.try_add(FORMULAS[0])
    obj = pool.objective
    for f in FORMULAS[1:]:
        res = pool.try_add(f)
        assert res.accepted == (res.gain > 0)
        assert pool.objective >= obj
        obj = pool.objective


def test_save_load_roundtrip(panel, tmp_path):
    label = panel.forward_returns(20)
    pool = AlphaPool(5).bind(panel, label)
    for f in FORMULAS:
        pool.try_add(f)
    path = tmp_path / "pool.json"
    pool.save(path, {"test": {"ic": 0.01}})
    loaded = AlphaPool.load(path, panel, label)
    assert loaded.formulas == pool.formulas
    np.testing.assert_array_equal(loaded.weights, pool.weights)
    assert loaded.objective == pytest.approx(pool.objective, rel=1e-12)
    assert AlphaPool.read(path)["metrics"]["test"]["ic"] == 0.01
    assert not list(tmp_path.glob("*.tmp"))
    bare = AlphaPool.load(path)
    assert bare.formulas == pool.formulas


def test_combined_factor_has_no_lookahead(panel):
    label = panel.forward_returns(20)
    pool = AlphaPool(5).bind(panel, label)
    for f in FORMULAS:
        pool.try_add(f)
    base = pool.combined(panel)
    cut = 200
    fields = {k: np.array(v) for k, v in panel.fields.items()}
    rng = np.random.default_rng(0)
    for k in fields:
        fields[k][cut + 1 :] *= rng.uniform(0.5, 1.5, size=fields[k][cut + 1 :].shape)
    perturbed = panel.replace(fields=fields)
    again = pool.combined(perturbed)
    np.testing.assert_array_equal(base[: cut + 1], again[: cut + 1])
    assert not np.allclose(np.nan_to_num(base[cut + 1 :]), np.nan_to_num(again[cut + 1 :]))


def test_invalid_settings():
    with pytest.raises(ConfigError, match="capacity"):
        AlphaPool(0)
    with pytest.raises(ConfigError, match="objective"):
        AlphaPool(3, objective="sharpe")
    with pytest.raises(ConfigError, match="not bound"):
        AlphaPool(3).try_add("$close")
