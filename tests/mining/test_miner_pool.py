"""AlphaPool: weights equal a least-squares reference, objective equals the IC of the combination,
duplicates are rejected, the weakest member is dropped, JSON round trip, no look-ahead."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import quantrl
from quantrl.alpha import evaluate
from quantrl.data.folds import purged_kfold_rows
from quantrl.errors import ConfigError
from quantrl.mining.env import MiningTask
from quantrl.mining.neutral import DEFAULT_STYLE_EXPOSURES
from quantrl.mining.pool import AlphaPool

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


@pytest.mark.parametrize(
    ("refused", "reason", "also_refused", "joins"),
    [
        (  # Div(Mul(x, $volume), $volume) is x in disguise
            "Div(Mul(Div(Mean($close,20),$close),$volume),$volume)",
            "cancels",
            "Mul(Div(Mean($close,20),$volume),Div($volume,$close))",
            "Mean($close,20)/$close",
        ),
        (  # one share added to a volume that nothing divides by or takes the log of blurs it
            "Div(Mean(Add($volume,1),20),$volume)",
            "idle guard",
            "Div(Mean(Add($volume,1),20),Mean($volume,5))",
            "Div(Mean($volume,20),Add($volume,1))",  # the same guard in a denominator
        ),
        (  # a mean of correlations never reaches 2: the Greater is always 2
            "Mul(Greater(2,Mean(Corr($close,$volume,10),5)),Div($close,$open))",
            "decided",
            "Mul(Abs(Add(Corr($close,$volume,10),-5)),Div($close,$open))",  # 5 - Corr
            "Mul(Greater(0.5,Mean(Corr($close,$volume,10),5)),Div($close,$open))",
        ),
        (  # twice a ratio less the ratio is the ratio: a function of one expression alone
            "Sub(Mul(Div(Mean($close,20),$close),2),Div(Mean($close,20),$close))",
            "shared core",
            "Greater(Div(Mean($close,20),$close),Add(Div(Mean($close,20),$close),0.1))",
            "Sub(Div(Mean($close,20),$close),Div(Mean($close,10),$close))",
        ),
        (  # a deviation is blind to sign: the -1 only flips a sign the Std ignores
            "Div(Std(Mul($close,-1),20),Mean($close,20))",
            "idle sign",
            "Div(Mad(Mean(Mul($close,-2),5),20),Mean($close,20))",
            "Div(Std($close,20),Mean($close,20))",
        ),
        (  # subtracting a negation is adding: the close over the open plus 1
            "Div(Sub($close,Mul($open,-1)),$open)",
            "double negative",
            "Div(Sub(Mean($close,20),EMA(Mul($close,-1),10)),$close)",
            "Div(Add($close,$open),$open)",
        ),
        (  # minus the close less the open is minus their sum: ranks and ICs up to sign
            "Div(Sub(Mul($close,-1),$open),$high)",
            "negated",
            "Div(Sub(Div($close,-5),$open),$high)",
            "Div(Add($close,$open),$high)",
        ),
    ],
)
def test_formulas_the_pool_refuses_unevaluated(panel, refused, reason, also_refused, joins):
    """A formula with a finding that needs more of it than a node's operands (a factor that
    cancels, an idle guard, a comparison its operands' ranges decide, two shifts or multiples of
    one expression, a sign an operator above it ignores, a subtracted negation, a negated
    formula) is refused before evaluation (reward 0), while its sound form joins."""
    task = MiningTask(panel, panel.forward_returns(20), AlphaPool(5))
    pool = task.pool
    spent = pool.timings["evaluate"]
    reward, res = task.offer(refused)
    assert (reward, res.accepted, res.reason, res.gain) == (0.0, False, reason, 0.0)
    assert pool.timings["evaluate"] == spent and len(pool) == 0
    assert pool.try_add(also_refused).reason == reason
    assert pool.try_add(joins).accepted
    assert pool.timings["evaluate"] > spent


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


@pytest.mark.parametrize("neutralize", [(), DEFAULT_STYLE_EXPOSURES], ids=["plain", "neutral"])
def test_combined_factor_has_no_lookahead(panel, neutralize):
    label = panel.forward_returns(20)
    pool = AlphaPool(5, neutralize=neutralize).bind(panel, label)
    for f in FORMULAS:
        pool.try_add(f)
    assert len(pool) >= 1
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


def _rank_zscore_ref(values: np.ndarray) -> np.ndarray:
    """Independent per-date z-scored percentile rank (pandas rank, ties averaged)."""
    ranks = pd.DataFrame(values).rank(axis=1, pct=True).to_numpy()
    return _zscore_ref(ranks)


def test_rank_transform_weights_match_lstsq_on_ranks(panel):
    label = panel.forward_returns(20)
    pool = AlphaPool(10, transform="rank", min_gain=-1.0).bind(panel, label)
    for f in FORMULAS[:4]:
        assert pool.try_add(f).accepted
    universe = np.isfinite(label)
    zs = [
        np.where(universe, _rank_zscore_ref(np.array(evaluate(f, panel))), 0.0)
        for f in pool.formulas
    ]
    y_rank = pd.DataFrame(np.where(universe, label, np.nan)).rank(axis=1, pct=True).to_numpy()
    y = _zscore_ref(y_rank)
    x = np.stack([z[universe] for z in zs], axis=1)
    ref, *_ = np.linalg.lstsq(x, y[universe], rcond=None)
    np.testing.assert_allclose(pool.weights, ref, rtol=1e-6, atol=1e-9)
    combo = np.where(universe, sum(w * z for w, z in zip(ref, zs, strict=True)), np.nan)
    assert pool.objective == pytest.approx(_pearson_by_date(combo, y_rank).mean(), rel=1e-9)
    # the combined factor on a panel uses the same rank transform
    values = [np.array(evaluate(f, panel)) for f in pool.formulas]
    expected = sum(w * _rank_zscore_ref(v) for w, v in zip(pool.weights, values, strict=True))
    np.testing.assert_allclose(np.nan_to_num(pool.combined(panel)), expected, atol=1e-9)


def test_rank_transform_rejects_monotone_reexpressions(panel):
    pool = AlphaPool(5, transform="rank").bind(panel, panel.forward_returns(20))
    assert pool.try_add("Mean($close,20)/$close").accepted
    res = pool.try_add("Log(Mean($close,20)/$close)")  # same ranks every date
    assert not res.accepted and res.reason == "near-duplicate"


@pytest.fixture(scope="module")
def split_panels():
    """50 S&P 500 stocks: train 2015, validation Jan-Jun 2016 with 60 rows of history."""
    p = quantrl.load_market("sp500", start="2015-01-01", end="2016-06-30")
    p = p.select(list(p.symbols[:50]))
    train, valid, _ = p.split("2016-01-01", "2016-06-30", warmup=60)
    return train, valid


VALID_FORMULAS = [
    *FORMULAS,
    "Mean($volume,10)/Mean($volume,40)",
    "Corr($high,$volume,20)",
    "$high/$low-1",
    "Std(Delta($close,1)/$close,20)",
    "Ref($close,5)/$close-1",
    "Max($high,20)/$close",
]


def _valid_objective_ref(pool, valid, vlabel) -> float:
    """Mean daily IC on the validation split of the train-weighted z-scored members."""
    universe = np.isfinite(vlabel)
    zs = [np.where(universe, _zscore_ref(np.array(evaluate(f, valid))), 0.0) for f in pool.formulas]
    combo = np.where(universe, sum(w * z for w, z in zip(pool.weights, zs, strict=True)), np.nan)
    return float(_pearson_by_date(combo, vlabel).mean())


def test_validation_gate_accepts_only_validation_gains(split_panels):
    train, valid = split_panels
    label, vlabel = train.forward_returns(20), valid.forward_returns(20)
    gated = AlphaPool(5).bind(train, label).bind_validation(valid, vlabel)
    outcomes = []
    for f in VALID_FORMULAS:
        before_valid = gated.valid_objective
        res = gated.try_add(f)
        outcomes.append(res.reason)
        if res.reason in ("accepted", "no valid gain"):
            assert res.gain > 0  # passed the training test first
            assert res.accepted == (res.valid_gain > 0)
        if res.accepted:
            ref = _valid_objective_ref(gated, valid, vlabel)
            assert gated.valid_objective == pytest.approx(ref, rel=1e-9, abs=1e-12)
            assert gated.valid_objective == pytest.approx(before_valid + res.valid_gain)
        else:
            assert gated.valid_objective == before_valid
    assert "accepted" in outcomes and "no valid gain" in outcomes
    # without the gate the same stream keeps at least one member the gate refused
    plain = AlphaPool(5).bind(train, label)
    for f in VALID_FORMULAS:
        plain.try_add(f)
    assert plain.formulas != gated.formulas
    # restoring the formulas and weights recomputes the validation objective exactly
    again = AlphaPool(5).bind(train, label).bind_validation(valid, vlabel)
    again.restore(gated.formulas, gated.weights)
    assert again.valid_objective == pytest.approx(gated.valid_objective, rel=1e-12)


def test_validation_binding_errors(split_panels, panel):
    train, valid = split_panels
    label, vlabel = train.forward_returns(20), valid.forward_returns(20)
    with pytest.raises(ConfigError, match="not bound"):
        AlphaPool(3).bind_validation(valid, vlabel)
    pool = AlphaPool(3).bind(train, label)
    with pytest.raises(ConfigError, match="shape"):
        pool.bind_validation(valid, vlabel[:-1])
    pool.try_add(FORMULAS[0])
    with pytest.raises(ConfigError, match="before adding"):
        pool.bind_validation(valid, vlabel)
    with pytest.raises(ConfigError, match="transform"):
        AlphaPool(3, transform="quantile")


def _ic_by_date(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-date Pearson correlation over the pairs finite in both (two-pass, deviations from
    the date's means), NaN where fewer than 2 pairs or no variance."""
    ok = np.isfinite(x) & np.isfinite(y)
    n = np.maximum(ok.sum(axis=1, keepdims=True), 1)
    dx = np.where(ok, x - np.where(ok, x, 0.0).sum(axis=1, keepdims=True) / n, 0.0)
    dy = np.where(ok, y - np.where(ok, y, 0.0).sum(axis=1, keepdims=True) / n, 0.0)
    sxx, syy = (dx * dx).sum(axis=1), (dy * dy).sum(axis=1)
    good = (ok.sum(axis=1) >= 2) & (sxx > 0) & (syy > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(good, (dx * dy).sum(axis=1) / np.sqrt(sxx * syy), np.nan)


def _block_means_ref(series: np.ndarray, dates_ok: np.ndarray, blocks: int) -> np.ndarray:
    parts = np.array_split(np.flatnonzero(dates_ok), blocks)
    return np.array([np.nan_to_num(np.nanmean(series[p])) if p.size else 0.0 for p in parts])


_Z_MEMO: dict[tuple[int, str], np.ndarray] = {}


def _zscore_cached(panel, formula: str) -> np.ndarray:
    """``_zscore_ref`` of a formula's values, memoised per panel (the references refit often)."""
    key = (id(panel), formula)
    if key not in _Z_MEMO:
        _Z_MEMO[key] = _zscore_ref(np.array(evaluate(formula, panel)))
    return _Z_MEMO[key]


def _lstsq_reference(panel, label, names, fit_dates=None):
    """lstsq weights of the named members' z-scores against the z-scored label (on ``fit_dates``
    rows, default all), and the z-scores (0 outside the label's universe)."""
    universe = np.isfinite(label)
    y = _zscore_ref(np.where(universe, label, np.nan))
    zs = [np.where(universe, _zscore_cached(panel, g), 0.0) for g in names]
    rows = universe if fit_dates is None else universe & fit_dates[:, None]
    w, *_ = np.linalg.lstsq(np.stack([z[rows] for z in zs], axis=1), y[rows], rcond=None)
    return w, zs


def _joined_reference(panel, label, members, candidate, fit_dates=None):
    """lstsq fit of members + candidate (on ``fit_dates`` rows, default all): (mean daily IC,
    daily IC series) before any drop."""
    universe = np.isfinite(label)
    names = [*members, candidate] if candidate else list(members)
    if not names:
        return 0.0, np.full(label.shape[0], np.nan)
    w, zs = _lstsq_reference(panel, label, names, fit_dates)
    combo = np.where(universe, sum(wi * z for wi, z in zip(w, zs, strict=True)), np.nan)
    series = _ic_by_date(combo, label)
    return float(np.nanmean(series)), series


def _cv_gain_reference(panel, label, members, candidate, dates_ok, blocks, purge=0):
    """Mean over blocks of the block's IC gain with weights fitted on the other blocks, less the
    usable dates within ``purge`` rows before the block's first date or after its last."""
    new = [*members, candidate]
    return float(_cv_change_reference(panel, label, members, new, dates_ok, blocks, purge).mean())


def _kept_reference(panel, label, names, capacity):
    """The members left after dropping the smallest |lstsq weight| until ``capacity`` remain."""
    names = list(names)
    while len(names) > capacity:
        w, _ = _lstsq_reference(panel, label, names)
        del names[int(np.argmin(np.abs(w)))]
    return names


def _cv_change_reference(panel, label, old, new, dates_ok, blocks, purge):
    """Per block, the block's IC of ``new`` minus that of ``old``, each fitted on the other
    blocks less ``purge`` rows either side."""
    gains = []
    rows = np.arange(dates_ok.size)
    for idx in np.array_split(np.flatnonzero(dates_ok), blocks):
        other = dates_ok.copy()
        other[(rows >= idx[0] - purge) & (rows <= idx[-1] + purge)] = False
        _, after = _joined_reference(panel, label, new, None, other)
        _, before = _joined_reference(panel, label, old, None, other)
        gains.append(np.nan_to_num(np.nanmean(after[idx])) - np.nan_to_num(np.nanmean(before[idx])))
    return np.asarray(gains)


def _offer_to_gated_pool(pool, panel, label, formulas, reason, field, reference) -> None:
    """Offer ``formulas`` to a gated pool. A candidate refused before the gate leaves
    ``AddResult.<field>`` NaN; for one that reached it, ``reference(members, kept)`` gives the
    expected field (a ``pytest.approx``) and verdict, with ``kept`` the members the lstsq drops
    leave, and the pool then holds ``kept`` if it accepted, else the members before. Both
    verdicts and a drop must occur."""
    reasons, drops = [], 0
    for f in formulas:
        members = pool.formulas
        res = pool.try_add(f)
        reasons.append(res.reason)
        if res.reason not in ("accepted", reason):
            assert np.isnan(getattr(res, field))  # refused before the gate
            continue
        kept = _kept_reference(panel, label, [*members, res.formula], pool.capacity)
        drops += len(kept) <= len(members)
        expected, accept = reference(members, kept)
        assert getattr(res, field) == expected
        assert res.accepted == accept
        assert pool.formulas == (kept if res.accepted else members)
    assert "accepted" in reasons and reason in reasons and drops >= 1


def _deflated_bar_reference(n: int) -> float:
    """Expected maximum of n standard normals (Bailey and Lopez de Prado), by hand with scipy."""
    import scipy.stats as sps

    if n == 1:
        return 0.0
    g = 0.5772156649015329
    return (1 - g) * sps.norm.ppf(1 - 1 / n) + g * sps.norm.ppf(1 - 1 / (n * np.e))


def _hac_t_reference(gain: np.ndarray, horizon: int) -> float:
    """Newey-West t of a per-date gain: statsmodels with max(h - 1, 4 (n / 100)^(2/9)) lags."""
    import statsmodels.api as sm

    gain = gain[np.isfinite(gain)]
    lags = max(horizon - 1, int(np.floor(4 * (gain.size / 100) ** (2 / 9))))
    fit = sm.OLS(gain, np.ones(gain.size)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    return float(gain.mean() / fit.bse[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_t_gate_accepts_only_gains_significant_after_the_trials(panel, tmp_path):
    label = panel.forward_returns(20)
    pool = AlphaPool(2, purge=20, t_gate="deflated").bind(panel, label)

    def reference(members, kept):
        _, after = _joined_reference(panel, label, kept, None)
        _, before = _joined_reference(panel, label, members, None)
        before = before if members else np.zeros_like(after)
        ref_t = _hac_t_reference(after - before, 20)
        bar = _deflated_bar_reference(pool.n_tried)  # the candidates so far, this one included
        return pytest.approx(ref_t, rel=1e-6), ref_t > bar

    formulas = [*VALID_FORMULAS, *VALID_FORMULAS[::-1]]
    _offer_to_gated_pool(pool, panel, label, formulas, "not significant", "gain_t", reference)
    pool.save(tmp_path / "pool.json")
    assert AlphaPool.load(tmp_path / "pool.json").t_gate == "deflated"
    with pytest.raises(ConfigError, match="t_gate must be one of"):
        AlphaPool(3, t_gate="on")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("gate", ["mean", "every"])
def test_cv_gate_accepts_only_changes_whose_cross_validated_gain_is_positive(panel, tmp_path, gate):
    label = panel.forward_returns(20)
    universe = np.isfinite(label)
    dates_ok = (universe.sum(axis=1) >= 2) & (np.nanstd(label, axis=1) > 0)
    pool = AlphaPool(2, blocks=2, purge=20, cv_gate=gate).bind(panel, label)

    def reference(members, kept):
        gains = _cv_change_reference(panel, label, members, kept, dates_ok, 2, 20)
        ref = gains.mean() if gate == "mean" else gains.min()
        return pytest.approx(ref, abs=1e-8), ref > pool.min_gain

    _offer_to_gated_pool(pool, panel, label, VALID_FORMULAS, "no cv gain", "cv_gain", reference)
    pool.save(tmp_path / "pool.json")
    assert AlphaPool.load(tmp_path / "pool.json").cv_gate == gate
    for bad in ({"blocks": 1}, {"blocks": 3, "objective": "rank_ic"}):
        with pytest.raises(ConfigError, match="cv_gate needs blocks >= 2"):
            AlphaPool(3, cv_gate=gate, **bad)
    with pytest.raises(ConfigError, match="cv_gate must be one of"):
        AlphaPool(3, blocks=3, cv_gate="on")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_block_gate_requires_a_gain_in_every_training_block(panel):
    label = panel.forward_returns(20)
    universe = np.isfinite(label)
    dates_ok = (universe.sum(axis=1) >= 2) & (np.nanstd(label, axis=1) > 0)
    pool = AlphaPool(20, blocks=3).bind(panel, label)
    members: list[str] = []
    before = np.zeros(3)
    reasons = []
    for f in VALID_FORMULAS:
        res = pool.try_add(f)
        reasons.append(res.reason)
        if res.reason not in ("accepted", "unstable"):
            continue
        _, series = _joined_reference(panel, label, members, res.formula)
        after = _block_means_ref(series, dates_ok, 3)
        gains = after - before
        assert res.accepted == bool(np.all(gains > 0))
        assert res.worst_block_gain == pytest.approx(gains.min(), abs=1e-9)
        if res.accepted:
            members, before = [*members, res.formula], after
    assert pool.formulas == members
    assert "accepted" in reasons and "unstable" in reasons


def test_task_reward_blends_validation_and_caps_unstable_gains(split_panels):
    from quantrl.mining import MiningTask

    train, valid = split_panels
    label, vlabel = train.forward_returns(20), valid.forward_returns(20)
    pool = AlphaPool(5, blocks=2).bind(train, label).bind_validation(valid, vlabel)
    task = MiningTask(train, label, pool, valid_reward_weight=0.25, reward_basis="net")
    seen = set()
    for f in VALID_FORMULAS:
        reward, res = task.offer(f)
        seen.add(res.reason)
        if res.reason in ("accepted", "no valid gain"):
            train_gain = min(res.gain, res.worst_block_gain)
            assert reward == pytest.approx(0.75 * train_gain + 0.25 * res.valid_gain)
        elif res.reason == "unstable":
            assert reward == pytest.approx(min(res.gain, res.worst_block_gain))
        elif res.reason == "no gain":
            assert reward == pytest.approx(res.gain)
    assert "accepted" in seen
    with pytest.raises(ConfigError, match="valid_reward_weight"):
        MiningTask(train, label, AlphaPool(3), valid_reward_weight=1.5)
    with pytest.raises(ConfigError, match="reward_basis"):
        MiningTask(train, label, AlphaPool(3), reward_basis="gross")
    with pytest.raises(ConfigError, match="blocks"):
        AlphaPool(3, blocks=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("purge", [0, 20])
def test_marginal_and_cross_validated_gains_match_lstsq_references(panel, purge):
    label = panel.forward_returns(20)
    universe = np.isfinite(label)
    dates_ok = (universe.sum(axis=1) >= 2) & (np.nanstd(label, axis=1) > 0)
    # full after 3: drops follow
    pool = AlphaPool(3, blocks=3, purge=purge, min_gain=-1.0).bind(panel, label)
    reasons = set()
    for f in VALID_FORMULAS:
        members = pool.formulas
        before, _ = _joined_reference(panel, label, members, None)
        res = pool.try_add(f)
        reasons.add(res.reason)
        if res.reason in ("duplicate", "near-duplicate", "degenerate"):
            assert np.isnan(res.marginal_gain)
            continue
        joined, _ = _joined_reference(panel, label, members, res.formula)
        assert res.marginal_gain == pytest.approx(joined - before, abs=1e-8)
        cv = _cv_gain_reference(panel, label, members, res.formula, dates_ok, 3, purge)
        assert res.marginal_cv_gain == pytest.approx(cv, abs=1e-8)
        if len(members) < pool.capacity and res.accepted:  # nothing dropped: marginal = net
            assert res.marginal_gain == pytest.approx(res.gain, abs=1e-12)
    assert "dropped" in reasons or "no gain" in reasons  # the full pool was exercised


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cv_folds_purge_the_rows_next_to_each_held_out_block(panel):
    label = panel.forward_returns(20)
    universe = np.isfinite(label)
    dates_ok = (universe.sum(axis=1) >= 2) & (np.nanstd(label, axis=1) > 0)
    usable = np.flatnonzero(dates_ok)
    for purge in (0, 7, 20):
        folds = AlphaPool(3, blocks=4, purge=purge).bind(panel, label).cv_folds()
        assert len(folds) == 4
        for fold, block in zip(folds, np.array_split(usable, 4), strict=True):
            np.testing.assert_array_equal(fold.test, block)
            s, e = block[0], block[-1]
            assert not np.any((fold.train >= s - purge) & (fold.train <= e + purge))
            # nothing else is left out: every usable date beyond the purge is fitted on
            far = usable[(usable < s - purge) | (usable > e + purge)]
            np.testing.assert_array_equal(fold.train, far)
    # a label finite on every date: the folds are purged k-fold's with horizon = purge
    dense = np.random.default_rng(0).normal(size=label.shape)
    folds = AlphaPool(3, blocks=4, purge=20).bind(panel, dense).cv_folds()
    for fold, ref in zip(folds, purged_kfold_rows(panel.n_dates, 4, 20), strict=True):
        np.testing.assert_array_equal(fold.train, ref.train)
        np.testing.assert_array_equal(fold.test, ref.test)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_purge_changes_only_the_cross_validated_gain(panel):
    label = panel.forward_returns(20)
    plain = AlphaPool(4, blocks=3, min_gain=-1.0).bind(panel, label)
    purged = AlphaPool(4, blocks=3, purge=20, min_gain=-1.0).bind(panel, label)
    moved = 0
    for f in VALID_FORMULAS:
        a, b = plain.try_add(f), purged.try_add(f)
        assert (a.accepted, a.reason, a.dropped) == (b.accepted, b.reason, b.dropped)
        for name in ("gain", "objective", "marginal_gain", "worst_block_gain"):
            np.testing.assert_equal(getattr(a, name), getattr(b, name))
        if np.isfinite(a.marginal_cv_gain):
            moved += a.marginal_cv_gain != b.marginal_cv_gain
    assert plain.formulas == purged.formulas and moved >= 5
    np.testing.assert_array_equal(plain.weights, purged.weights)


def test_purge_settings_are_checked_and_saved(panel, tmp_path):
    label = panel.forward_returns(20)
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError, match="purge"):
            AlphaPool(3, blocks=3, purge=bad)
    n = panel.n_dates
    wide = AlphaPool(3, blocks=2, purge=n)
    with pytest.raises(ConfigError, match="no date to fit on"):
        wide.bind(panel, label)
    with pytest.raises(ConfigError, match="not bound"):
        wide.try_add(FORMULAS[0])
    AlphaPool(3, purge=n).bind(panel, label)  # without blocks nothing is held out
    pool = AlphaPool(3, blocks=3, purge=20).bind(panel, label)
    pool.try_add(FORMULAS[0])
    pool.save(tmp_path / "pool.json")
    assert AlphaPool.read(tmp_path / "pool.json")["purge"] == 20
    assert AlphaPool.load(tmp_path / "pool.json", panel, label).purge == 20


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_marginal_reward_pays_rejected_candidates_and_repeats_earn_nothing(panel):
    from quantrl.mining import MiningTask

    label = panel.forward_returns(20)
    pool = AlphaPool(2).bind(panel, label)
    task = MiningTask(panel, label, pool, reward_basis="marginal")
    assert MiningTask(panel, label, AlphaPool(2).bind(panel, label)).reward_basis == "cv"
    rewards = {}
    for f in VALID_FORMULAS:
        reward, res = task.offer(f)
        if res.reason in ("duplicate", "near-duplicate", "degenerate"):
            assert reward == 0.0
            continue
        assert reward == pytest.approx(res.marginal_gain)
        rewards[res.formula] = (reward, res.accepted)
    rejected = [f for f, (r, acc) in rewards.items() if not acc and r > 0]
    assert rejected, "a rejected candidate with information should earn its marginal gain"
    again, res = task.offer(rejected[0])
    assert not res.accepted and again == 0.0  # tried before: nothing the second time
    assert rejected[0] in task.seen


def test_cv_reward_pays_the_cross_validated_gain(panel):
    from quantrl.mining import MiningTask

    label = panel.forward_returns(20)
    task = MiningTask(panel, label, AlphaPool(3, blocks=3).bind(panel, label), reward_basis="cv")
    paid = 0
    for f in VALID_FORMULAS:
        reward, res = task.offer(f)
        if np.isfinite(res.marginal_cv_gain):
            assert reward == pytest.approx(res.marginal_cv_gain)
            paid += 1
    assert paid >= 5
    # one block: no cross-validation is possible, so the marginal gain is paid
    task = MiningTask(panel, label, AlphaPool(3).bind(panel, label), reward_basis="cv")
    reward, res = task.offer(VALID_FORMULAS[0])
    assert np.isnan(res.marginal_cv_gain) and reward == pytest.approx(res.marginal_gain)


def test_repeats_reuse_the_verdict_until_the_pool_changes(panel):
    from quantrl.mining import MiningTask

    label = panel.forward_returns(20)
    task = MiningTask(panel, label, AlphaPool(3, min_gain=1.0).bind(panel, label))  # no accepts
    first = task.offer("Corr($close,$volume,10)")
    tried = task.pool.n_tried
    again = task.offer("Corr($close,$volume,10)")
    assert again[1] is first[1] and task.n_repeats == 1
    assert task.pool.n_tried == tried  # not evaluated again
    assert again[0] == 0.0  # and a repeat earns nothing
    # once the pool changes, a repeat is judged afresh
    task.pool.min_gain = -1.0
    assert task.offer("Std($close,20)/$close")[1].accepted
    third = task.offer("Corr($close,$volume,10)")[1]
    assert third is not first[1] and task.pool.n_tried == tried + 2
    stages = task.timings()
    assert set(stages) >= {"evaluate", "transform", "neutralize", "fit", "other", "total"}
    assert stages["total"] >= stages["evaluate"] > 0


def test_alphaeval_reward_weights_blend_stability_and_robustness(panel):
    from quantrl.evaluation.alpha import pfs, rre
    from quantrl.mining import MiningTask
    from quantrl.mining.env import RewardWeights

    label = panel.forward_returns(20)
    weights = {"gain": 1.0, "stability": 2.0, "robustness": 1.0}
    blended = MiningTask(panel, label, AlphaPool(3).bind(panel, label), reward_weights=weights)
    plain = MiningTask(panel, label, AlphaPool(3).bind(panel, label), reward_basis="cv")
    checked = 0
    for f in VALID_FORMULAS:
        r_plain, res = plain.offer(f)
        r_blend, _ = blended.offer(f)
        if r_plain > 0:
            values = np.asarray(evaluate(f, panel))
            quality = (1.0 + 2.0 * rre(values) + max(pfs(values, seed=0).mean, 0.0)) / 4.0
            assert r_blend == pytest.approx(r_plain * quality, rel=1e-9)
            assert 0 < quality <= 1
            checked += 1
        else:
            assert r_blend == r_plain  # a gain <= 0 is paid as it is
    assert checked >= 2
    assert blended.timings()["alphaeval"] > 0 and plain.timings()["alphaeval"] == 0
    assert RewardWeights.from_value(None) == RewardWeights(1.0, 0.0, 0.0)
    for bad in ({"gain": -1}, {"gain": 0, "stability": 0}, {"speed": 1}, {"gain": "x"}):
        with pytest.raises(ConfigError):
            RewardWeights.from_value(bad)


def _coverage_ref(panel, formula: str, label: np.ndarray) -> float:
    """Share of the label's finite cells on which the formula is finite (plain numpy)."""
    values = evaluate(formula, panel)
    universe = np.isfinite(label)
    return float((np.isfinite(values) & universe).sum() / universe.sum())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_sparse_candidates_are_refused_before_they_are_transformed(panel):
    from quantrl.mining import MiningTask

    label = panel.forward_returns(20)
    formula = "Log(Delta($close,5))"  # finite only where the 5-day change is positive
    cov = _coverage_ref(panel, formula, label)
    assert 0.3 < cov < 0.7
    strict = AlphaPool(3, min_coverage=cov + 1e-9).bind(panel, label)
    res = strict.try_add(formula)
    assert (res.accepted, res.reason, strict.size) == (False, "sparse", 0)
    assert strict.timings["transform"] == 0.0 and strict.timings["fit"] == 0.0
    loose = AlphaPool(3, min_coverage=cov - 1e-9).bind(panel, label)
    assert loose.try_add(formula).reason != "sparse"
    # a correlation that is NaN wherever a window's spread is below its epsilon: ~1% coverage
    tiny = "Corr(Var(Div(Mad(Log($close),40),$low),30),$volume,30)"
    assert _coverage_ref(panel, tiny, label) < 0.05
    default = AlphaPool(3).bind(panel, label)
    assert default.min_coverage == 0.5 and default.try_add(tiny).reason == "sparse"
    assert AlphaPool(3, min_coverage=0.0).bind(panel, label).try_add(tiny).reason != "sparse"
    task = MiningTask(panel, label, AlphaPool(3).bind(panel, label), reward_basis="marginal")
    reward, res = task.offer(tiny)
    assert res.reason == "sparse" and reward == 0.0


def test_min_coverage_is_checked_saved_and_old_files_load_without_it(panel, tmp_path):
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="min_coverage"):
            AlphaPool(3, min_coverage=bad)
    label = panel.forward_returns(20)
    pool = AlphaPool(3, min_coverage=0.8).bind(panel, label)
    pool.try_add(FORMULAS[0])
    path = tmp_path / "pool.json"
    pool.save(path)
    assert AlphaPool.read(path)["min_coverage"] == 0.8
    assert AlphaPool.load(path, panel, label).min_coverage == 0.8
    data = AlphaPool.read(path)
    del data["min_coverage"]  # a pool saved before the rule existed keeps accepting as it did
    path.write_text(json.dumps(data))
    assert AlphaPool.load(path).min_coverage == 0.0


def test_one_sided_comparisons_are_refused_before_they_are_transformed(panel, tmp_path):
    """A candidate with a comparison that takes one outcome on at least ``one_sided`` of the
    training cells is refused (reward 0) before its rank transform; below the threshold, or
    with the check off, it is judged as any other."""
    from quantrl.evaluation.comparison_shares import comparison_shares
    from quantrl.mining import MiningTask

    label = panel.forward_returns(20)
    disguised = "Div(Greater(Mul(Mean($close,20),30),$high),$close)"  # 30 * Mean / close
    assert comparison_shares(disguised, panel)[0].share == 1.0
    pool = AlphaPool(3).bind(panel, label)
    res = pool.try_add(disguised)
    assert (res.accepted, res.reason, pool.size) == (False, "one-sided", 0)
    assert pool.timings["transform"] == 0.0 and pool.timings["fit"] == 0.0
    assert AlphaPool(3, one_sided=0.0).bind(panel, label).try_add(disguised).reason != "one-sided"
    switching = "Greater(Div($close,Ref($close,5)),Div($open,Ref($open,5)))"
    share = comparison_shares(switching, panel)[0].share
    assert 0.5 < share < 0.9
    assert AlphaPool(3, one_sided=share).bind(panel, label).try_add(switching).reason == "one-sided"
    above = AlphaPool(3, one_sided=min(1.0, share + 1e-9)).bind(panel, label)
    assert above.try_add(switching).reason != "one-sided"
    task = MiningTask(panel, label, AlphaPool(3).bind(panel, label), reward_basis="marginal")
    reward, res = task.offer(disguised)
    assert res.reason == "one-sided" and reward == 0.0
    for bad in (0.5, 1.5, -0.1, float("nan")):
        with pytest.raises(ConfigError, match="one_sided"):
            AlphaPool(3, one_sided=bad)
    path = tmp_path / "pool.json"
    AlphaPool(3, one_sided=0.99).bind(panel, label).save(path)
    assert AlphaPool.load(path).one_sided == 0.99
    data = AlphaPool.read(path)
    del data["one_sided"]  # a pool saved before the rule existed keeps accepting as it did
    path.write_text(json.dumps(data))
    assert AlphaPool.load(path).one_sided == 0.0
