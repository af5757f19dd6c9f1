"""AlphaPool(date_step=k): scoring every k-th training date equals a pool that scores every date
of a label kept only on those dates, the purge is translated into scored rows, and the combined
factor on other panels does not depend on k."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import quantrl
from quantrl.data.folds import purged_kfold_rows
from quantrl.errors import ConfigError
from quantrl.mining.pool import AlphaPool

FORMULAS = [
    "Div(Mean($close,10),$close)",
    "Corr($close,$volume,10)",
    "Div(Std($close,20),$close)",
    "Div(Sub($close,Ref($close,5)),$close)",
    "Corr($high,$low,20)",
    "Div(Mean($volume,5),Mean($volume,20))",
]
STYLES = ["Log($close)", "Std(Div($close,Ref($close,1)),20)"]


@pytest.fixture(scope="module")
def panel():
    """60 S&P 500 stocks x ~2 years."""
    p = quantrl.load_market("sp500", start="2014-01-01", end="2015-12-31")
    return p.select(list(p.symbols[:60]))


def _pair(panel, step: int, **kw) -> tuple[AlphaPool, AlphaPool]:
    """A pool scoring every ``step``-th date, and the reference: every date scored, the label
    kept on those dates only (NaN elsewhere, so the other dates drop out of every sum)."""
    label = panel.forward_returns(20)
    masked = np.full_like(label, np.nan)
    masked[::step] = label[::step]
    fast = AlphaPool(4, date_step=step, **kw).bind(panel, label)
    ref = AlphaPool(4, **kw).bind(panel, masked)
    return fast, ref


@pytest.mark.parametrize("step", [2, 5, 7])
@pytest.mark.parametrize("purge", [0, 18, 20])
def test_date_step_equals_a_label_kept_on_the_scored_dates(panel, step: int, purge: int) -> None:
    kw = {"transform": "rank", "blocks": 3, "purge": purge, "neutralize": STYLES, "min_gain": -1.0}
    fast, ref = _pair(panel, step, **kw)
    for f in FORMULAS:
        a, b = fast.try_add(f), ref.try_add(f)
        assert (a.accepted, a.reason, a.dropped) == (b.accepted, b.reason, b.dropped), f
        for key in ("gain", "objective", "single_ic", "max_mutual", "marginal_gain",
                    "marginal_cv_gain", "worst_block_gain"):  # fmt: skip
            x, y = getattr(a, key), getattr(b, key)
            assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-12), key
    assert fast.formulas == ref.formulas and len(fast) >= 2
    np.testing.assert_allclose(fast.weights, ref.weights, rtol=1e-10, atol=1e-14)
    # the folds: the reference's rows are full dates; the fast pool's are scored rows
    for f_fold, r_fold in zip(fast.cv_folds(), ref.cv_folds(), strict=True):
        np.testing.assert_array_equal(f_fold.test * step, r_fold.test)
        np.testing.assert_array_equal(f_fold.train * step, r_fold.train)


def test_purge_in_scored_rows_matches_purged_kfold(panel) -> None:
    label = panel.forward_returns(20)
    pool = AlphaPool(4, blocks=3, purge=20, date_step=5).bind(panel, label)
    rows = np.flatnonzero(np.isfinite(label[::5]).sum(axis=1) >= 2)
    assert rows.size == rows[-1] + 1  # the usable scored rows are one run from row 0
    for fold, (train, test) in zip(
        pool.cv_folds(), purged_kfold_rows(rows.size, 3, 4), strict=True
    ):
        np.testing.assert_array_equal(fold.test, test)
        np.testing.assert_array_equal(fold.train, train)


def test_combined_factor_does_not_depend_on_the_step(panel) -> None:
    label = panel.forward_returns(20)
    other = quantrl.load_market("sp500", start="2016-01-01", end="2016-06-30")
    other = other.select(list(panel.symbols))
    one = AlphaPool(4, transform="rank", neutralize=STYLES).bind(panel, label)
    five = AlphaPool(4, transform="rank", neutralize=STYLES, date_step=5).bind(panel, label)
    one.restore(FORMULAS[:3], [0.5, -0.25, 1.0])
    five.restore(FORMULAS[:3], [0.5, -0.25, 1.0])
    np.testing.assert_array_equal(one.combined(other), five.combined(other))
    assert one.evaluate_on(other, other.forward_returns(20)) == five.evaluate_on(
        other, other.forward_returns(20)
    )


def test_date_step_is_checked_saved_and_old_files_load_with_one(panel, tmp_path) -> None:
    for bad in (0, -1, 1.5, True, "5"):
        with pytest.raises(ConfigError, match="date_step"):
            AlphaPool(3, date_step=bad)  # type: ignore[arg-type]
    label = panel.forward_returns(20)
    pool = AlphaPool(3, date_step=4).bind(panel, label)
    pool.try_add(FORMULAS[0])
    path = tmp_path / "pool.json"
    pool.save(path)
    assert AlphaPool.read(path)["date_step"] == 4
    again = AlphaPool.load(path, panel, label)
    assert again.date_step == 4 and again.objective == pytest.approx(pool.objective, abs=1e-15)
    data = AlphaPool.read(path)
    del data["date_step"]  # saved before the option existed: every date was scored
    path.write_text(json.dumps(data))
    assert AlphaPool.load(path).date_step == 1
