"""Per-date transforms and pool sums against pandas / numpy references (ties, holes, infs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.kernels.cross_section import (
    count_finite_in_nb,
    cs_rank_nb,
    cs_rank_zscore_rows,
    cs_zscore_rows,
)
from quantrl.kernels.projection import cross_sums, factor_sums
from quantrl.mining.transforms import standardize_rows, transform_rows


def _zscore_ref(values: np.ndarray) -> np.ndarray:
    df = pd.DataFrame(values).replace([np.inf, -np.inf], np.nan)
    mean, std = df.mean(axis=1), df.std(axis=1, ddof=0)
    z = df.sub(mean, axis=0).div(std, axis=0)
    bad = (df.count(axis=1) < 2) | (std <= 1e-12 * (mean.abs() + 1))
    z[bad] = np.nan
    return z.fillna(0.0).to_numpy()


@pytest.fixture
def values() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 37))
    x[:, :5] = np.round(x[:, :5], 1)  # ties
    x[3] = 2.5  # a constant date
    x[4, 1:] = np.nan  # a date with one value
    x[5] = np.nan  # an empty date
    x[7, 3] = np.inf
    x[8, 4] = -np.inf
    x[10:20, 9] = np.nan
    x[11, :] = np.round(x[11, :])  # many ties
    return x


def test_zscore_matches_pandas(values: np.ndarray) -> None:
    np.testing.assert_allclose(standardize_rows(values), _zscore_ref(values), atol=1e-12)
    np.testing.assert_allclose(transform_rows(values, "zscore"), _zscore_ref(values), atol=1e-12)


def test_rank_zscore_matches_pandas_ranks(values: np.ndarray) -> None:
    finite = np.where(np.isfinite(values), values, np.nan)
    ranks = pd.DataFrame(finite).rank(axis=1, pct=True).to_numpy()
    ref = _zscore_ref(ranks)
    np.testing.assert_allclose(cs_rank_zscore_rows(values), ref, atol=1e-12)
    # the ranks themselves are the old kernel's, bit for bit
    ranked = np.where(
        np.isfinite(values), cs_rank_nb(np.where(np.isfinite(values), values, np.nan)), np.nan
    )
    np.testing.assert_array_equal(np.nan_to_num(ranked), np.nan_to_num(ranks))


def test_universe_and_out_arguments(values: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    universe = rng.random(values.shape) > 0.3
    out = np.full(values.shape, 7.0)
    got = cs_zscore_rows(values, out=out, universe=universe)
    assert got is out
    np.testing.assert_allclose(got, np.where(universe, _zscore_ref(values), 0.0), atol=1e-12)
    ranked = cs_rank_zscore_rows(values, universe=universe)
    np.testing.assert_allclose(ranked, np.where(universe, cs_rank_zscore_rows(values), 0.0))
    with pytest.raises(ValueError, match="out"):
        cs_zscore_rows(values, out=np.empty((2, 2)))


def test_factor_sums_match_einsum() -> None:
    rng = np.random.default_rng(2)
    zbuf = rng.standard_normal((40, 5, 23))  # (dates, slots, symbols)
    y_std, y_c, z = rng.standard_normal((3, 40, 23))
    members = np.array([0, 3, 1, 4, 2])  # a group of four and one more
    s, zz, b, c = factor_sums(z, y_std, y_c)
    cross = cross_sums(zbuf, z, members)
    np.testing.assert_allclose(s, z.sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(zz, (z * z).sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(b, (z * y_std).sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(c, (z * y_c).sum(axis=1), atol=1e-12)
    ref = np.stack([(z * zbuf[:, m]).sum(axis=1) for m in members], axis=1)
    np.testing.assert_allclose(cross, ref, atol=1e-12)


def test_count_finite_in_matches_numpy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 23))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[rng.random(x.shape) < 0.05] = np.inf
    x[rng.random(x.shape) < 0.05] = -np.inf
    x[0, 0] = -0.0
    universe = rng.random(x.shape) < 0.7
    assert count_finite_in_nb(x, universe) == int((np.isfinite(x) & universe).sum())
    assert count_finite_in_nb(x, np.ones_like(universe)) == int(np.isfinite(x).sum())
    assert count_finite_in_nb(x[:, ::2], universe[:, ::2]) == int(
        (np.isfinite(x[:, ::2]) & universe[:, ::2]).sum()
    )
