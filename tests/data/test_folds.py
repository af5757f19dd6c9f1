"""Walk-forward and purged k-fold rows, and the Panel methods built on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantrl.data import Panel
from quantrl.data.folds import Fold, purged_kfold_rows, walk_forward_rows
from quantrl.errors import ConfigError

# ----------------------------------------------------------------------------- walk-forward


def test_walk_forward_hand_case():
    folds = walk_forward_rows(20, train=6, test=4, embargo=2)
    assert [(f.train.tolist(), f.test.tolist()) for f in folds] == [
        ([0, 1, 2, 3, 4, 5], [8, 9, 10, 11]),
        ([4, 5, 6, 7, 8, 9], [12, 13, 14, 15]),
        ([8, 9, 10, 11, 12, 13], [16, 17, 18, 19]),
    ]
    expanding = walk_forward_rows(20, train=6, test=4, step=5, expanding=True)
    assert [(f.train[0], f.train[-1], f.test[0], f.test[-1]) for f in expanding] == [
        (0, 5, 6, 9),
        (0, 10, 11, 14),
        (0, 15, 16, 19),
    ]
    assert all(isinstance(f, Fold) and f.train.dtype == np.int64 for f in folds)


def test_walk_forward_checks():
    with pytest.raises(ConfigError, match="test some rows twice"):
        walk_forward_rows(100, 10, 5, step=3)
    with pytest.raises(ConfigError, match="cannot hold one fold"):
        walk_forward_rows(14, 10, 4, embargo=1)
    with pytest.raises(ConfigError, match="train"):
        walk_forward_rows(100, 0, 5)
    with pytest.raises(ConfigError, match="embargo"):
        walk_forward_rows(100, 10, 5, embargo=-1)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 300),
    train=st.integers(1, 60),
    test=st.integers(1, 40),
    extra_step=st.integers(0, 10),
    embargo=st.integers(0, 15),
    expanding=st.booleans(),
)
def test_walk_forward_properties(n, train, test, extra_step, embargo, expanding):
    step = test + extra_step
    try:
        folds = walk_forward_rows(n, train, test, step, embargo=embargo, expanding=expanding)
    except ConfigError:
        assert train + embargo + test > n
        return
    tested = np.concatenate([f.test for f in folds])
    assert np.unique(tested).size == tested.size  # every row tested at most once
    assert tested.min() >= 0 and tested.max() < n
    for f in folds:
        assert f.test.size == test and np.all(np.diff(f.test) == 1)
        assert np.all(np.diff(f.train) == 1)
        assert f.train.size == (f.test[0] - embargo if expanding else train)
        # training ends before the test window, with `embargo` rows left out between
        assert f.train[-1] + embargo + 1 == f.test[0]
        # so with h <= embargo no training label window [t, t + h] reaches a test row
        assert all(f.train[-1] + h < f.test[0] for h in range(embargo + 1))
    assert folds[0].test[0] == train + embargo
    assert all(b.test[0] - a.test[0] == step for a, b in zip(folds, folds[1:], strict=False))
    # no whole test window was left out at the end
    assert folds[-1].test[0] + step + test > n


# ----------------------------------------------------------------------------- purged k-fold


def test_purged_kfold_hand_case():
    folds = purged_kfold_rows(20, k=4, horizon=2, embargo=1)
    assert [f.test.tolist() for f in folds] == [list(range(a, a + 5)) for a in (0, 5, 10, 15)]
    # test block 5..9: rows 3..11 purged (label windows touching rows 5..11), row 12 embargoed
    assert folds[1].train.tolist() == [0, 1, 2, 13, 14, 15, 16, 17, 18, 19]
    assert folds[0].train.tolist() == list(range(8, 20))
    assert folds[3].train.tolist() == list(range(0, 13))


def test_purged_kfold_checks():
    with pytest.raises(ConfigError, match="k"):
        purged_kfold_rows(10, 1, 0)
    with pytest.raises(ConfigError, match="k=5 test blocks"):
        purged_kfold_rows(4, 5, 0)
    with pytest.raises(ConfigError, match="no training row"):
        purged_kfold_rows(10, 2, 5)
    with pytest.raises(ConfigError, match="horizon"):
        purged_kfold_rows(10, 2, -1)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(2, 400),
    k=st.integers(2, 10),
    horizon=st.integers(0, 20),
    embargo=st.integers(0, 20),
)
def test_purged_kfold_properties(n, k, horizon, embargo):
    try:
        folds = purged_kfold_rows(n, k, horizon, embargo)
    except ConfigError:
        assert n < k or any(
            b[0] - horizon <= 0 and b[-1] + horizon + embargo >= n - 1
            for b in np.array_split(np.arange(n), k)
        )
        return
    tested = np.concatenate([f.test for f in folds])
    np.testing.assert_array_equal(tested, np.arange(n))  # each row tested exactly once
    for f in folds:
        s, e = f.test[0], f.test[-1]
        assert np.intersect1d(f.train, f.test).size == 0
        # no training label window [t, t + h] touches a test row or a test label window
        assert not np.any((f.train <= e + horizon) & (f.train + horizon >= s))
        # the `embargo` rows after the purged span are out of training too
        assert not np.any((f.train > e + horizon) & (f.train <= e + horizon + embargo))
        # and nothing else is dropped
        kept = np.setdiff1d(np.arange(n), np.arange(s - horizon, e + horizon + embargo + 1))
        np.testing.assert_array_equal(f.train, kept)


# ----------------------------------------------------------------------------- Panel methods


def _panel(rows: int = 60, warmup: int = 0) -> Panel:
    dates = pd.bdate_range("2022-01-03", periods=rows).to_numpy()
    close = 100 + np.arange(rows * 2, dtype=float).reshape(rows, 2)
    return Panel(dates, ("A", "B"), {"close": close}, warmup=warmup)


def test_panel_walk_forward_matches_the_rows():
    panel = _panel()
    pairs = panel.walk_forward(20, 10, embargo=3, warmup=5)
    folds = walk_forward_rows(60, 20, 10, embargo=3)
    assert len(pairs) == len(folds) == 3
    for (train, test), fold in zip(pairs, folds, strict=True):
        np.testing.assert_array_equal(train.segment_dates, panel.dates[fold.train])
        np.testing.assert_array_equal(test.segment_dates, panel.dates[fold.test])
        # both carry up to 5 rows of earlier history, never rows of their own segment
        assert test.warmup == 5
        np.testing.assert_array_equal(test.dates[:5], panel.dates[fold.test[0] - 5 : fold.test[0]])
        assert train.warmup == min(5, int(fold.train[0]))
        # labels are computed inside each panel: a training label never reads a test price
        label = train.forward_returns(1)
        assert np.isnan(label[-1]).all()
    assert pairs[0][0].warmup == 0


def test_panel_folds_skip_the_panels_own_warmup():
    panel = _panel(60, warmup=8)
    (train, test), *_ = panel.walk_forward(20, 10)
    assert train.segment_dates[0] == panel.dates[8]
    assert test.segment_dates[0] == panel.dates[28]
    folds = panel.purged_kfold(4, horizon=2)
    reference = purged_kfold_rows(52, 4, 2)
    for got, ref in zip(folds, reference, strict=True):
        np.testing.assert_array_equal(got.test, ref.test + 8)
        np.testing.assert_array_equal(got.train, ref.train + 8)
    assert min(f.train.min() for f in folds) == 8
    with pytest.raises(ConfigError, match="warmup"):
        panel.walk_forward(20, 10, warmup=-1)
