"""Per-date style neutralisation against a per-date numpy least-squares reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import quantrl
from quantrl.alpha import evaluate
from quantrl.errors import ConfigError, FormulaError
from quantrl.mining.neutral import DEFAULT_STYLE_EXPOSURES, Exposures, neutralize_rows
from quantrl.mining.pool import AlphaPool

FACTOR = "Corr($close,$volume,10)"


@pytest.fixture(scope="module")
def panel():
    """40 S&P 500 stocks x ~300 days, with a few holes punched in the prices."""
    p = quantrl.load_market("sp500", start="2015-01-01", end="2016-03-31")
    return p.select(list(p.symbols[:40]))


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


def _reference(values: np.ndarray, exposures: list[np.ndarray], rank: bool) -> np.ndarray:
    """Date by date: transform, regress on [1, exposures] with lstsq, re-standardise."""
    out = np.full(values.shape, np.nan)
    for t in range(values.shape[0]):
        ok = np.isfinite(values[t]) & np.logical_and.reduce([np.isfinite(e[t]) for e in exposures])
        if ok.sum() < 5:
            continue

        def tr(v: np.ndarray) -> np.ndarray:
            row = pd.Series(v)
            # the pool transforms over each series' own finite cells
            row = row.rank(pct=True) if rank else row
            z = (row - row.mean()) / row.std(ddof=0)
            return z.to_numpy()

        y = tr(values[t])[ok]
        x = np.column_stack([np.ones(ok.sum())] + [tr(e[t])[ok] for e in exposures])
        beta = np.linalg.lstsq(x, y, rcond=None)[0]
        out[t, ok] = _zscore(y - x @ beta)
    return out


@pytest.mark.parametrize("transform", ["zscore", "rank"])
@pytest.mark.parametrize("holes", [2, 5, 30])
def test_neutralize_matches_lstsq_reference(panel, transform, holes):
    """Holes in the factor only: 2 or 5 of 40 cells (at most 1/8) take the precomputed normal
    matrix less theirs, 30 sum the used cells' matrix afresh."""
    values = np.array(evaluate(FACTOR, panel), dtype=float)
    values[200:210, :holes] = np.nan  # after the 60-day volatility exposure starts
    raw = [np.asarray(evaluate(f, panel), dtype=float) for f in DEFAULT_STYLE_EXPOSURES]
    expo = Exposures(DEFAULT_STYLE_EXPOSURES, panel, transform=transform)
    got = neutralize_rows(values, expo, transform)
    ref = _reference(values, raw, transform == "rank")
    rows = np.isfinite(ref).any(axis=1)
    assert rows.sum() > 200
    np.testing.assert_allclose(got[rows], np.nan_to_num(ref[rows]), atol=1e-8)
    # the residual is uncorrelated with every exposure on every date
    t = int(np.flatnonzero(rows)[-1])
    ok = np.isfinite(ref[t])
    for e in raw:
        assert abs(np.corrcoef(got[t, ok], e[t, ok])[0, 1]) < 0.6  # ranks vs raw: loose
        if transform == "zscore":
            assert abs(np.corrcoef(got[t, ok], e[t, ok])[0, 1]) < 1e-8


def test_exposure_itself_neutralises_to_nothing(panel):
    expo = Exposures(DEFAULT_STYLE_EXPOSURES, panel, transform="rank")
    values = np.asarray(evaluate("Log($close)", panel), dtype=float)
    assert np.abs(neutralize_rows(values, expo, "rank")).max() < 1e-6
    pool = AlphaPool(3, transform="rank", neutralize=DEFAULT_STYLE_EXPOSURES)
    pool.bind(panel, panel.forward_returns(20))
    assert not pool.try_add("Mul(2,Log($close))").accepted


def test_neutralised_pool_weights_and_roundtrip(panel, tmp_path):
    label = panel.forward_returns(20)
    pool = AlphaPool(4, neutralize=("Log($close)",)).bind(panel, label)
    formulas = [FACTOR, "Std($close,20)/$close", "Delta($close,5)/$close"]
    for f in formulas:
        pool.try_add(f)
    # the pool's combined factor is the weighted sum of the reference-neutralised members
    raw = [np.asarray(evaluate("Log($close)", panel), dtype=float)]
    ref = sum(
        w * np.nan_to_num(_reference(np.asarray(evaluate(f, panel), dtype=float), raw, False))
        for f, w in zip(pool.formulas, pool.weights, strict=True)
    )
    combo = pool.combined(panel)
    rows = np.isfinite(combo).all(axis=1) & (np.abs(ref).sum(axis=1) > 0)
    np.testing.assert_allclose(combo[rows], ref[rows], atol=1e-7)
    path = tmp_path / "pool.json"
    pool.save(path)
    loaded = AlphaPool.load(path, panel, label)
    assert loaded.neutralize == ("Log($close)",)
    np.testing.assert_allclose(loaded.combined(panel), combo, atol=1e-12)


def test_bad_neutralisation_inputs(panel):
    with pytest.raises(ConfigError, match="at least one"):
        Exposures((), panel)
    expo = Exposures(("Log($close)",), panel)
    with pytest.raises(ConfigError, match="shape"):
        neutralize_rows(np.zeros((3, 3)), expo)
    with pytest.raises(FormulaError):
        AlphaPool(3, neutralize=("Log($close",))
