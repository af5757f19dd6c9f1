"""Impact of order flow: binned curves, the small-flow linearity test and walk-forward R^2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quantrl.data.panel import Panel
from quantrl.errors import ConfigError
from quantrl.stats.impact import (
    FEATURES,
    binned_impact,
    fold_bounds,
    gbm_model,
    impact_frame,
    kyle_model,
    linearity_test,
    walk_forward_r2,
)


def _lob(n: int = 400, seed: int = 0) -> tuple[Panel, np.ndarray]:
    """A toy order-book panel whose mid moves 8 bp per USD million of net buying, plus noise."""
    rng = np.random.default_rng(seed)
    buys = rng.uniform(0.1, 1.0, n) * 1e6
    sells = rng.uniform(0.1, 1.0, n) * 1e6
    ret = 8.0 * (buys - sells) / 1e6 + rng.normal(0, 1.0, n)
    ret[0] = 0.0
    mid = 50_000 * np.exp(np.cumsum(ret) / 1e4)
    fields = {"midpoint": mid, "buys": buys, "sells": sells, "spread": np.full(n, 0.01)}
    for side in ("bids", "asks"):
        for i in range(5):
            fields[f"{side}_notional_{i}"] = rng.uniform(1e4, 1e5, n)
    dates = np.datetime64("2021-04-17T00:00") + np.arange(n).astype("timedelta64[m]")
    return Panel(dates, ("X",), {k: v[:, None] for k, v in fields.items()}), ret


def test_impact_frame_targets_and_causal_features() -> None:
    panel, ret = _lob()
    f = impact_frame(panel)
    assert len(f) == panel.n_dates - 1 and set(FEATURES) <= set(f.columns)
    np.testing.assert_allclose(f["ret_bps"].to_numpy(), ret[1:], atol=1e-9)
    buys = panel["buys"][:, 0]
    np.testing.assert_allclose(f["ofi"], (buys - panel["sells"][:, 0])[1:] / 1e6)
    np.testing.assert_allclose(f["ret_prev"].to_numpy()[1:], ret[1:-1], atol=1e-9)
    bid = sum(panel[f"bids_notional_{i}"][:, 0] for i in range(5))
    ask = sum(panel[f"asks_notional_{i}"][:, 0] for i in range(5))
    np.testing.assert_allclose(f["depth_prev"], (bid + ask)[:-1] / 1e6)
    # features of minute t ignore the snapshot at t except its trades: perturb the book at t
    fields = {k: np.array(v, copy=True) for k, v in panel.fields.items()}
    fields["bids_notional_0"][200] *= 10
    g = impact_frame(Panel(panel.dates, panel.symbols, fields))
    pd.testing.assert_frame_equal(g.iloc[:200], f.iloc[:200])
    assert g["depth_prev"].iloc[200] > f["depth_prev"].iloc[200]


def test_binned_impact_matches_hand_bins() -> None:
    ofi = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 6.0])
    ret = np.array([50.0, 10.0, 30.0, 20.0, 40.0, 60.0])
    b = binned_impact(ofi, ret, bins=3)
    np.testing.assert_allclose(b["ofi_mean"], [1.5, 3.5, 5.5])
    np.testing.assert_allclose(b["ret_mean"], [15.0, 35.0, 55.0])
    np.testing.assert_allclose(b["ret_se"], [5.0, 5.0, 5.0])  # std 10/sqrt(2) over sqrt(2)
    assert b["n"].tolist() == [2, 2, 2]


def test_linearity_test_matches_scipy_and_detects_curvature() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, 2000)
    y = 3.0 * x + rng.normal(0, 1, 2000)
    out = linearity_test(x, y, quantile=0.8)
    keep = np.abs(x) <= np.quantile(np.abs(x), 0.8)
    ref = stats.linregress(x[keep], y[keep])
    assert out["n"] == keep.sum()
    assert out["slope"] == pytest.approx(ref.slope, rel=1e-10)
    assert out["slope_t"] == pytest.approx(ref.slope / ref.stderr, rel=1e-8)
    assert out["r2_linear"] == pytest.approx(ref.rvalue**2, rel=1e-8)
    # the quadratic F-test equals the squared t-test of the quadratic coefficient
    xs, ys = x[keep], y[keep]
    design = np.column_stack([np.ones_like(xs), xs, xs * xs])
    coef, *_ = np.linalg.lstsq(design, ys, rcond=None)
    resid = ys - design @ coef
    s2 = resid @ resid / (xs.size - 3)
    t = coef[2] / np.sqrt(s2 * np.linalg.inv(design.T @ design)[2, 2])
    assert out["quadratic_p"] == pytest.approx(2 * stats.t.sf(abs(t), xs.size - 3), rel=1e-6)
    curved = linearity_test(x, 3.0 * x + 2.0 * x * x + rng.normal(0, 1, 2000))
    assert curved["quadratic_p"] < 1e-6 < out["quadratic_p"]
    with pytest.raises(ConfigError):
        linearity_test(x, y, quantile=0.0)


def test_fold_bounds_tile_the_second_half() -> None:
    assert fold_bounds(100, 0.5, 5) == [(50, 60), (60, 70), (70, 80), (80, 90), (90, 100)]
    with pytest.raises(ConfigError):
        fold_bounds(100, 1.0, 5)


def test_walk_forward_r2_by_hand_and_never_peeks() -> None:
    panel, _ = _lob(300, seed=2)
    f = impact_frame(panel)
    r2, pred = walk_forward_r2(f, kyle_model)
    y, x = f["ret_bps"].to_numpy(), f["ofi"].to_numpy()
    sse = sst = 0.0
    for a, b in fold_bounds(len(f)):
        fit = stats.linregress(x[:a], y[:a])
        p = fit.intercept + fit.slope * x[a:b]
        np.testing.assert_allclose(pred[a:b], p, rtol=1e-8)
        sse += ((y[a:b] - p) ** 2).sum()
        sst += ((y[a:b] - y[:a].mean()) ** 2).sum()
    assert r2 == pytest.approx(1 - sse / sst, rel=1e-10)
    assert r2 > 0.5 and np.isnan(pred[: len(f) // 2]).all()
    # a model that only saw its training rows: changing the last fold's targets changes nothing
    g = f.copy()
    g.iloc[-20:, g.columns.get_loc("ret_bps")] += 100.0
    _, pred_g = walk_forward_r2(g, kyle_model)
    np.testing.assert_allclose(pred_g, pred, equal_nan=True)


def test_gbm_model_is_seeded_and_learns_the_flow() -> None:
    panel, _ = _lob(400, seed=3)
    f = impact_frame(panel)
    r2_a, pred_a = walk_forward_r2(f, gbm_model(0))
    r2_b, pred_b = walk_forward_r2(f, gbm_model(0))
    np.testing.assert_array_equal(pred_a, pred_b)
    assert r2_a > 0.3
    assert not np.array_equal(walk_forward_r2(f, gbm_model(1))[1], pred_a)
