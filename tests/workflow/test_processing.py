"""Qlib's processors in numpy against pandas references; fitted on train rows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl import ConfigError
from quantrl.workflow import FeatureProcessor, normalize_label


def _long(values: np.ndarray) -> pd.Series:
    """(dates, symbols) -> a Series indexed by (datetime, instrument), as Qlib's frames."""
    t, n = values.shape
    index = pd.MultiIndex.from_product([range(t), range(n)], names=["datetime", "instrument"])
    return pd.Series(values.reshape(-1), index=index)


def _wide(series: pd.Series, shape: tuple[int, int]) -> np.ndarray:
    return series.to_numpy().reshape(shape)


@pytest.fixture
def label(rng) -> np.ndarray:
    y = rng.normal(0, 0.05, (30, 9))
    y[rng.random(y.shape) < 0.2] = np.nan
    y[4, :8] = np.nan  # one value left on that date
    y[7, 2] = y[7, 5]  # a tie
    return y


def test_label_cs_zscore_matches_pandas(label):
    s = _long(label)
    ref = s.groupby("datetime").transform(lambda x: (x - x.mean()) / x.std())
    np.testing.assert_allclose(
        normalize_label(label, "cs_zscore"), _wide(ref, label.shape), equal_nan=True, atol=1e-12
    )
    assert np.isnan(normalize_label(label, "cs_zscore")[4]).all()


def test_label_cs_rank_matches_pandas(label):
    s = _long(label)
    ref = (s.groupby("datetime").rank(pct=True) - 0.5) * 3.46
    np.testing.assert_allclose(
        normalize_label(label, "cs_rank"), _wide(ref, label.shape), equal_nan=True, atol=1e-12
    )
    with_inf = label.copy()
    with_inf[0, 0] = np.inf
    assert np.isnan(normalize_label(with_inf, "none")[0, 0])
    with pytest.raises(ConfigError, match="label norm"):
        normalize_label(label, "minmax")


def test_robust_zscore_fits_on_train_and_clips(rng):
    x = rng.standard_t(3, size=(40, 7, 4)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[3, 2, 1] = np.inf
    train = x[:25]
    p = FeatureProcessor("robust_zscore", fillna=True).fit(train)
    rows = pd.DataFrame(np.where(np.isfinite(train), train, np.nan).reshape(-1, 4))
    med = rows.median()
    mad = (rows - med).abs().median()
    ref = ((pd.DataFrame(x.reshape(-1, 4)) - med) / ((mad + 1e-12) * 1.4826)).clip(-3, 3)
    ref = ref.where(np.isfinite(x.reshape(-1, 4)), np.nan).fillna(0).to_numpy()
    out = p.transform(x)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_allclose(out.reshape(-1, 4), ref, rtol=1e-5, atol=1e-5)
    assert np.abs(out).max() <= 3.0
    # the fit sees train rows only: changing later rows leaves the centre and scale alone
    y = x.copy()
    y[25:] *= 10
    q = FeatureProcessor("robust_zscore").fit(y[:25])
    np.testing.assert_array_equal(q.center, p.center)
    np.testing.assert_array_equal(q.scale, p.scale)


def test_zscore_and_cross_sectional_feature_norms(rng):
    x = rng.normal(2, 3, size=(20, 6, 3))
    x[:, :, 2] = 5.0  # constant feature: zscore leaves it (Qlib's ``ignore``)
    z = FeatureProcessor("zscore").fit(x[:10]).transform(x)
    rows = x[:10].reshape(-1, 3)
    np.testing.assert_allclose(z[..., 0], (x[..., 0] - rows[:, 0].mean()) / rows[:, 0].std())
    np.testing.assert_array_equal(z[..., 2], x[..., 2])
    cs = FeatureProcessor("cs_rank").transform(x)
    np.testing.assert_allclose(cs[..., 1], normalize_label(x[..., 1], "cs_rank"))
    csz = FeatureProcessor("cs_zscore").transform(x)
    np.testing.assert_allclose(csz[..., 0], normalize_label(x[..., 0], "cs_zscore"))
    with pytest.raises(ConfigError, match="fitted"):
        FeatureProcessor("zscore").transform(x)
    with pytest.raises(ConfigError, match="feature norm"):
        FeatureProcessor("quantile")
