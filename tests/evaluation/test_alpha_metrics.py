"""Alpha metrics against independent references (scipy, numpy loops, hand-computed cases)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from quantrl.errors import ConfigError
from quantrl.evaluation.alpha import (
    AlphaEvalResult,
    AlphaEvalSet,
    alphaeval,
    diversity,
    factor_autocorrelation,
    factor_turnover,
    pfs,
    pps,
    quantile_returns,
    rre,
)
from quantrl.stats.ic import ic_series, ic_summary, rank_ic_series


def _messy(seed: int, t_len: int = 40, n: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Random factor/label with NaNs, infs, ties, a constant row and sparse rows."""
    rng = np.random.default_rng(seed)
    f = np.round(rng.normal(size=(t_len, n)), 1)  # rounding creates many ties
    y = rng.normal(size=(t_len, n)) * 0.02
    y[:, : n // 3] = np.round(y[:, : n // 3], 2)
    f[rng.random(f.shape) < 0.15] = np.nan
    y[rng.random(y.shape) < 0.1] = np.nan
    f[3, 2] = np.inf
    y[4, 5] = -np.inf
    f[5] = 1.5  # constant factor row
    f[6, 2:] = np.nan  # at most 2 valid pairs
    f[7, 1:] = np.nan  # at most 1 valid pair
    y[8] = np.nan  # no label
    return f, y


def _ref_corr(f: np.ndarray, y: np.ndarray, fn) -> np.ndarray:
    out = np.full(f.shape[0], np.nan)
    for t in range(f.shape[0]):
        m = np.isfinite(f[t]) & np.isfinite(y[t])
        a, b = f[t][m], y[t][m]
        if m.sum() < 2 or np.all(a == a[0]) or np.all(b == b[0]):
            continue
        out[t] = fn(a, b)[0]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ic_matches_scipy_pearson(seed: int) -> None:
    f, y = _messy(seed)
    got = ic_series(f, y)
    ref = _ref_corr(f, y, stats.pearsonr)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, atol=1e-12)
    assert np.isnan(got[[5, 7, 8]]).all()
    assert np.isfinite(got).sum() > 30


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_ic_matches_scipy_spearman_with_ties(seed: int) -> None:
    f, y = _messy(seed)
    got = rank_ic_series(f, y)
    ref = _ref_corr(f, y, stats.spearmanr)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(0.01, 100.0),
    shift=st.floats(-100.0, 100.0),
)
def test_ic_invariances(seed: int, scale: float, shift: float) -> None:
    f, y = _messy(seed, t_len=10, n=15)
    ic, ric = ic_series(f, y), rank_ic_series(f, y)
    assert np.all((np.abs(ic) <= 1.0) | np.isnan(ic))
    np.testing.assert_allclose(ic_series(scale * f + shift, y), ic, atol=1e-9)
    np.testing.assert_allclose(ic_series(-f, y), -ic, atol=1e-12)
    np.testing.assert_allclose(ic_series(y, f), ic, atol=1e-12)
    # RankIC only sees the ordering: any strictly increasing transform leaves it unchanged
    g = np.where(np.isfinite(f), np.arctan(f) * scale + shift, f)
    np.testing.assert_allclose(rank_ic_series(g, y), ric, atol=1e-12)


def test_ic_hand_cases() -> None:
    f = np.array([[1.0, 2.0, 3.0, np.nan], [1.0, 1.0, 2.0, 2.0], [1.0, 2.0, np.nan, np.nan]])
    y = np.array([[2.0, 4.0, 6.0, 1.0], [0.0, 1.0, 0.0, 1.0], [5.0, 3.0, 1.0, 1.0]])
    np.testing.assert_allclose(ic_series(f, y), [1.0, 0.0, -1.0], atol=1e-15)
    np.testing.assert_allclose(rank_ic_series(f, y), [1.0, 0.0, -1.0], atol=1e-15)
    # a monotone but non-linear relation: RankIC 1, IC below 1
    f2 = np.array([[1.0, 2.0, 3.0, 4.0]])
    y2 = f2**4
    assert rank_ic_series(f2, y2)[0] == pytest.approx(1.0)
    assert ic_series(f2, y2)[0] < 0.97


def test_ic_summary_reference() -> None:
    f, y = _messy(5, t_len=60)
    s = ic_summary(f, y)
    ic = _ref_corr(f, y, stats.pearsonr)
    ric = _ref_corr(f, y, stats.spearmanr)
    ic_ok, ric_ok = ic[~np.isnan(ic)], ric[~np.isnan(ric)]
    assert s.n_dates == ic_ok.size
    assert s.ic == pytest.approx(ic_ok.mean(), abs=1e-12)
    assert s.icir == pytest.approx(ic_ok.mean() / ic_ok.std(ddof=1), abs=1e-10)
    assert s.rank_ic == pytest.approx(ric_ok.mean(), abs=1e-12)
    assert s.rank_icir == pytest.approx(ric_ok.mean() / ric_ok.std(ddof=1), abs=1e-10)
    assert s.ic_positive == pytest.approx((ic_ok > 0).mean())
    assert pps(f, y) == pytest.approx(0.5 * ic_ok.mean() + 0.5 * ric_ok.mean(), abs=1e-12)


def test_ic_summary_without_valid_dates_is_nan() -> None:
    f = np.full((3, 4), np.nan)
    s = ic_summary(f, np.ones((3, 4)))
    assert s.n_dates == 0 and math.isnan(s.ic) and math.isnan(s.icir)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ConfigError, match="shape"):
        ic_series(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ConfigError, match="dates, symbols"):
        rank_ic_series(np.zeros(3), np.zeros(3))


def test_metrics_never_look_ahead() -> None:
    f, y = _messy(7)
    base = {
        "ic": ic_series(f, y),
        "ric": rank_ic_series(f, y),
        "turn": factor_turnover(f, 4),
        "auto": factor_autocorrelation(f),
        "q": quantile_returns(f, y, 4)[0],
    }
    cut = 20
    rng = np.random.default_rng(99)
    f2, y2 = f.copy(), y.copy()
    f2[cut + 1 :] = rng.normal(size=f2[cut + 1 :].shape)
    y2[cut + 1 :] = rng.normal(size=y2[cut + 1 :].shape)
    after = {
        "ic": ic_series(f2, y2),
        "ric": rank_ic_series(f2, y2),
        "turn": factor_turnover(f2, 4),
        "auto": factor_autocorrelation(f2),
        "q": quantile_returns(f2, y2, 4)[0],
    }
    for key, value in base.items():
        np.testing.assert_array_equal(value[: cut + 1], after[key][: cut + 1], err_msg=key)
        assert not np.array_equal(value[cut + 1 :], after[key][cut + 1 :], equal_nan=True), key


# ---------------------------------------------------------------------------- quantiles
def _ref_quantiles(f: np.ndarray, y: np.ndarray, q: int) -> np.ndarray:
    out = np.full((f.shape[0], q), np.nan)
    for t in range(f.shape[0]):
        m = np.isfinite(f[t]) & np.isfinite(y[t])
        n = int(m.sum())
        if n < q:
            continue
        r = stats.rankdata(f[t][m], method="average")
        b = np.clip(np.floor(q * (r - 0.5) / n).astype(int), 0, q - 1)
        for k in range(q):
            if (b == k).any():
                out[t, k] = y[t][m][b == k].mean()
    return out


def test_quantile_returns_reference() -> None:
    f, y = _messy(3)
    means, ls = quantile_returns(f, y, 5)
    ref = _ref_quantiles(f, y, 5)
    np.testing.assert_allclose(means, ref, atol=1e-14)
    np.testing.assert_allclose(ls, ref[:, -1] - ref[:, 0], atol=1e-14)


def test_quantile_returns_equal_buckets_without_ties() -> None:
    rng = np.random.default_rng(4)
    f = rng.normal(size=(6, 20))
    y = rng.normal(size=(6, 20))
    means, _ = quantile_returns(f, y, 4)
    for t in range(6):
        order = np.argsort(f[t])
        chunks = np.array_split(y[t][order], 4)  # 5 names per quartile, lowest factor first
        np.testing.assert_allclose(means[t], [c.mean() for c in chunks], atol=1e-14)


def test_quantile_hand_case() -> None:
    f = np.array([[4.0, 3.0, 2.0, 1.0, np.nan], [1.0, 1.0, 1.0, 1.0, 1.0]])
    y = np.array([[0.4, 0.3, 0.2, 0.1, 9.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    means, ls = quantile_returns(f, y, 2)
    np.testing.assert_allclose(means[0], [0.15, 0.35])
    assert ls[0] == pytest.approx(0.2)
    # all tied: every name in the middle bucket floor(2 * 2.5 / 5) = 1
    assert np.isnan(means[1, 0]) and means[1, 1] == pytest.approx(3.0)
    with pytest.raises(ConfigError):
        quantile_returns(f, y, 1)


def test_turnover_reference_and_hand_case() -> None:
    f = np.array(
        [[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0], [4.0, 1.0, 2.0, 3.0]]
    )
    # top half: {2,3} -> {0,1} -> {0,1} -> {0,3}
    np.testing.assert_allclose(factor_turnover(f, 2), [np.nan, 1.0, 0.0, 0.5])
    g, _ = _messy(8)
    got = factor_turnover(g, 5)
    ref = np.full(g.shape[0], np.nan)
    tops = []
    for t in range(g.shape[0]):
        m = np.isfinite(g[t])
        n = int(m.sum())
        top: set[int] = set()
        if n >= 5:
            r = stats.rankdata(g[t][m], method="average")
            b = np.clip(np.floor(5 * (r - 0.5) / n), 0, 4)
            top = set(np.flatnonzero(m)[b == 4].tolist())
        tops.append(top)
        if t and top and tops[t - 1]:
            ref[t] = len(top - tops[t - 1]) / len(top)
    np.testing.assert_allclose(got, ref)


def test_autocorrelation_reference() -> None:
    f, _ = _messy(9)
    got = factor_autocorrelation(f, lag=2)
    ref = np.full(f.shape[0], np.nan)
    ref[2:] = _ref_corr(f[2:], f[:-2], stats.spearmanr)
    np.testing.assert_allclose(got, ref, atol=1e-12)


# ---------------------------------------------------------------------------- AlphaEval
def _ref_rre(f: np.ndarray) -> float:
    terms = []
    for t in range(1, f.shape[0]):
        m = np.isfinite(f[t]) & np.isfinite(f[t - 1])
        if m.sum() < 2:
            continue
        p = stats.rankdata(f[t][m])
        q = stats.rankdata(f[t - 1][m])
        kl = stats.entropy(p / p.sum(), q / q.sum())  # nats
        terms.append(1.0 / (1.0 + kl))
    return float(np.mean(terms))


def test_rre_reference() -> None:
    f, _ = _messy(10)
    assert rre(f) == pytest.approx(_ref_rre(f), abs=1e-12)
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.normal(size=(50, 30)), axis=0)
    noisy = rng.normal(size=(50, 30))
    assert rre(smooth) > rre(noisy)
    # an unchanging ranking is perfectly stable
    assert rre(np.tile(np.arange(10.0), (5, 1))) == pytest.approx(1.0)


def test_pfs_reference() -> None:
    f, _ = _messy(11)
    got = pfs(f, noise_scale=0.3, seed=5)
    rng = np.random.default_rng(5)
    eps_g = rng.standard_normal(f.shape)
    eps_t = rng.standard_t(3, f.shape)
    ref_g = np.nanmean(_ref_corr(f, f * (1 + 0.3 * eps_g), stats.spearmanr))
    ref_t = np.nanmean(_ref_corr(f, f * (1 + 0.3 * eps_t), stats.spearmanr))
    assert got.gaussian == pytest.approx(ref_g, abs=1e-12)
    assert got.student_t == pytest.approx(ref_t, abs=1e-12)
    assert got.mean == pytest.approx(0.5 * (ref_g + ref_t), abs=1e-12)
    assert pfs(f, noise_scale=0.0).mean == pytest.approx(1.0)
    assert pfs(f, noise_scale=0.01).mean > pfs(f, noise_scale=1.0).mean
    assert pfs(f, seed=1) == pfs(f, seed=1)


def test_diversity_reference() -> None:
    rng = np.random.default_rng(12)
    base = rng.normal(size=(30, 20))
    fs = [base, base + 0.5 * rng.normal(size=base.shape), rng.normal(size=base.shape)]
    fs[1][rng.random(base.shape) < 0.2] = np.nan
    fs[2][0, :] = np.nan
    got = diversity(fs)
    cols = np.stack([f.ravel() for f in fs], axis=1)
    cols = cols[~np.isnan(cols).any(axis=1)]
    lam = np.linalg.eigvals(np.corrcoef(cols.T)).real
    ref = stats.entropy(lam / lam.sum()) / np.log(3)
    assert got == pytest.approx(ref, abs=1e-10)
    assert 0.0 < got < 1.0
    # identical factors: one non-zero eigenvalue; independent ones: close to 1
    assert diversity([base, base * 2.0, base + 1.0]) == pytest.approx(0.0, abs=1e-6)
    indep = [rng.normal(size=(200, 50)) for _ in range(4)]
    assert diversity(indep) > 0.99
    assert math.isnan(diversity([base]))


def test_alphaeval_single_and_set() -> None:
    f, y = _messy(13)
    res = alphaeval(f, y, seed=3)
    assert isinstance(res, AlphaEvalResult)
    s = ic_summary(f, y)
    assert res.ic == s.ic and res.rank_ic == s.rank_ic and res.icir == s.icir
    assert res.pps == pytest.approx(pps(f, y))
    assert res.rre == pytest.approx(_ref_rre(f))
    assert res.pfs == pfs(f, seed=3).mean
    assert math.isnan(res.diversity) and math.isnan(res.logic)
    g = f + np.random.default_rng(0).normal(size=f.shape)
    both = alphaeval([f, g], y, seed=3)
    assert isinstance(both, AlphaEvalSet)
    assert both.diversity == pytest.approx(diversity([f, g]))
    assert both.results[0].ic == res.ic
    assert all(r.diversity == both.diversity for r in both.results)
    with pytest.raises(ConfigError):
        alphaeval([f, g], y, formula=["$close"])


# ---------------------------------------------------------------------------- formulas on panels
def _panel(seed: int = 0, t_len: int = 160, n: int = 12):
    from quantrl.data.panel import Panel

    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, size=(t_len, n)), axis=0))
    close[rng.random(close.shape) < 0.03] = np.nan
    volume = rng.integers(1_000, 100_000, size=(t_len, n)).astype(float)
    dates = np.datetime64("2020-01-01", "D") + np.arange(t_len)
    return Panel(dates, tuple(f"S{i}" for i in range(n)), {"close": close, "volume": volume})


FORMULA = "Mean($close, 10) / $close - 1"


def test_evaluate_split_matches_a_direct_computation() -> None:
    from quantrl.alpha import evaluate
    from quantrl.evaluation.alpha import evaluate_split

    panel = _panel()
    (rep,), div = evaluate_split(
        [FORMULA], panel, "test", horizon=5, valid_start="2020-03-01", test_start="2020-04-15"
    )
    assert math.isnan(div)
    rows = np.flatnonzero(panel.dates >= np.datetime64("2020-04-15"))
    np.testing.assert_array_equal(rep.dates, panel.dates[rows])
    factor = np.asarray(evaluate(FORMULA, panel))[rows]  # past-only, so whole-panel rows agree
    close = panel["close"][rows]
    label = np.full(close.shape, np.nan)
    label[:-5] = close[5:] / close[:-5] - 1.0  # label never leaves the segment
    np.testing.assert_allclose(rep.factor, factor, atol=1e-12)
    np.testing.assert_allclose(rep.ic, _ref_corr(factor, label, stats.pearsonr), atol=1e-12)
    np.testing.assert_allclose(rep.rank_ic, _ref_corr(factor, label, stats.spearmanr), atol=1e-12)
    assert np.isnan(rep.ic[-5:]).all() and np.isfinite(rep.ic[0])
    assert rep.metrics.logic == 1.0 and rep.metrics.n_dates == rows.size - 5
    means, _ = quantile_returns(factor, label, 5)
    np.testing.assert_allclose(rep.quantile_means, means, atol=1e-14)


def test_evaluate_split_sees_nothing_after_its_segment() -> None:
    from quantrl.data.panel import Panel
    from quantrl.evaluation.alpha import evaluate_split

    panel = _panel(1)
    kw = {"horizon": 5, "valid_start": "2020-03-01", "test_start": "2020-04-15"}
    (base,), _ = evaluate_split([FORMULA], panel, "valid", **kw)
    close = np.array(panel["close"])
    close[panel.dates >= np.datetime64("2020-04-15")] *= 3.0  # change the test period only
    other = Panel(panel.dates, panel.symbols, {"close": close, "volume": panel["volume"]})
    (after,), _ = evaluate_split([FORMULA], other, "valid", **kw)
    np.testing.assert_array_equal(base.ic, after.ic)
    np.testing.assert_array_equal(base.quantile_means, after.quantile_means)
    assert base.metrics == after.metrics
    (test_before,), _ = evaluate_split([FORMULA], panel, "test", **kw)
    (test_after,), _ = evaluate_split([FORMULA], other, "test", **kw)
    assert not np.array_equal(test_before.ic, test_after.ic, equal_nan=True)


def test_evaluate_split_several_formulas_and_errors() -> None:
    from quantrl.evaluation.alpha import evaluate_split, split_segment

    panel = _panel(2)
    reports, div = evaluate_split([FORMULA, "Std($close, 5) / $close"], panel, "all", horizon=3)
    assert len(reports) == 2 and 0.0 < div <= 1.0
    assert all(r.metrics.diversity == div for r in reports)
    assert div == pytest.approx(diversity([r.factor for r in reports]))
    with pytest.raises(ConfigError, match="split must be one of"):
        split_segment(panel, "holdout")
    with pytest.raises(ConfigError, match="no default split dates"):
        split_segment(panel, "test")
    with pytest.raises(ConfigError, match="no formula"):
        evaluate_split([], panel, "all")
