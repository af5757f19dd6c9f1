"""End to end: run_workflow on a small S&P 500 slice, deterministic, without look-ahead."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import quantrl
from quantrl.alpha.alpha158 import ALPHA158
from quantrl.stats.ic import ic_summary
from quantrl.workflow import run_workflow, topk_dropout_weights

FORMULAS = [f for _, f in ALPHA158[:30]]  # VWAP0 among them


def _spec(**model) -> dict:
    return {
        "name": "tiny",
        "data": {
            "market": "sp500",
            "start": "2015-09-01",
            "max_symbols": 30,
            "valid_start": "2016-07-01",
            "test_start": "2017-01-01",
            "vwap": "proxy",
        },
        "features": {"formulas": FORMULAS},
        "label": {"horizon": 5},
        "model": model or {"kind": "linear"},
        "strategy": {"topk": 8, "n_drop": 2, "fees": 0.001},
    }


@pytest.fixture(scope="module")
def panel():
    return quantrl.load_market("sp500", "2015-09-01").select(
        list(quantrl.load_market("sp500").symbols[:30])
    )


def test_linear_workflow_end_to_end(panel):
    res = run_workflow(_spec())
    a, b = res.bounds["test"]
    assert str(res.dates[a])[:10] == "2017-01-03" and b == len(res.dates)
    assert res.bounds["train"][1] == res.bounds["valid"][0]
    # labels are forward returns inside each split: the last 5 rows of every split are NaN
    close = panel["close"]
    for name, (lo, hi) in res.bounds.items():
        assert np.isnan(res.label[hi - 5 : hi]).all()
        np.testing.assert_allclose(
            res.label[lo : hi - 5], close[lo + 5 : hi] / close[lo : hi - 5] - 1, equal_nan=True
        )
        # IC by split is the library's IC of the scores against the raw label
        ref = ic_summary(res.scores[lo:hi], res.label[lo:hi])
        assert res.ic[name] == ref
    # a score wherever the symbol has a bar, nowhere else
    np.testing.assert_array_equal(np.isfinite(res.scores), np.isfinite(close))
    # the backtest trades top-k dropout of the test scores at the next open, with the fees
    w = topk_dropout_weights(res.scores[a:b], 8, 2)
    np.testing.assert_array_equal(res.backtest.spec["targets"][1:], w[:-1])
    assert res.backtest.spec["fees"] == 0.001 and res.backtest.n_bars == b - a
    assert res.meta["derived_fields"]["vwap"].startswith("typical price")
    assert res.meta["feature_norm"] == "robust_zscore" and res.meta["model"]["model"] == "linear"
    frame = res.predictions("test")
    assert set(frame.columns) == {"date", "symbol", "split", "score", "label"}
    assert len(frame) == np.isfinite(res.scores[a:b]).sum()
    text = repr(res)
    assert text.startswith("WorkflowResult(tiny:") and "test IC" in text and "\n" not in text
    assert "<table" in res._repr_html_() and "RankIC" in res._repr_html_()


@pytest.mark.slow
def test_lightgbm_workflow_is_deterministic_and_writes_outputs(tmp_path):
    model = {"kind": "lightgbm", "num_boost_round": 8, "num_leaves": 8, "seed": 1}
    model |= {"lambda_l1": 0.0, "lambda_l2": 1.0}  # Qlib's penalties allow no split on 30 names
    model |= {"num_threads": 1}  # OpenMP threads spin on a busy machine
    spec = _spec(**model) | {"output": {"dir": str(tmp_path / "out"), "report": False}}
    one = run_workflow(spec)
    two = run_workflow(spec | {"output": {"dir": ""}})
    np.testing.assert_array_equal(one.scores, two.scores)
    np.testing.assert_array_equal(one.backtest.equity, two.backtest.equity)
    assert 1 <= one.meta["model"]["best_iteration"] <= 8
    assert np.isfinite(one.ic["test"].ic) and np.nanstd(one.scores) > 0
    assert not two.files
    files = one.files
    assert {p.name for p in files.values()} == {
        "predictions.parquet",
        "metrics.json",
        "backtest.csv",
    }
    metrics = json.loads(files["metrics"].read_text())
    assert metrics["ic"]["test"]["ic"] == pytest.approx(one.ic["test"].ic)
    assert metrics["spec"]["model"]["seed"] == 1
    saved = pd.read_parquet(files["predictions"])
    assert len(saved) == np.isfinite(one.scores).sum()
    backtest = pd.read_csv(files["backtest"], index_col="date")
    np.testing.assert_allclose(backtest["equity"].to_numpy(), one.backtest.equity)


def test_no_lookahead_in_scores_or_decisions(panel):
    cut = int(np.searchsorted(panel.dates, np.datetime64("2017-06-01")))
    rng = np.random.default_rng(0)
    fields = {k: v.copy() for k, v in panel.fields.items()}
    shock = rng.uniform(0.7, 1.3, fields["close"][cut:].shape)
    for v in fields.values():
        v[cut:] *= shock
    future = panel.replace(fields=fields)
    spec = _spec(kind="lightgbm", num_boost_round=5, num_leaves=4, lambda_l1=0.0, lambda_l2=1.0)
    spec["model"]["num_threads"] = 1
    base = run_workflow(spec, panel=panel)
    moved = run_workflow(spec, panel=future)
    # the model never saw test prices, and a score at t reads rows <= t
    np.testing.assert_array_equal(base.scores[:cut], moved.scores[:cut])
    assert not np.allclose(base.scores[cut:], moved.scores[cut:], equal_nan=True)
    a = base.bounds["test"][0]
    np.testing.assert_array_equal(
        base.backtest.spec["targets"][: cut - a + 1], moved.backtest.spec["targets"][: cut - a + 1]
    )
    # and a train label never reads a later split's price
    lo, hi = base.bounds["train"]
    np.testing.assert_array_equal(base.label[lo:hi], moved.label[lo:hi])


def test_pool_file_features(tmp_path, panel):
    from quantrl.mining.pool import AlphaPool

    train = panel.slice(None, "2016-06-30")
    pool = AlphaPool(3).bind(train, train.forward_returns(5))
    for formula in (
        "Mean($close, 10)/$close",
        "Std($close, 20)/$close",
        "Corr($close, $volume, 10)",
    ):
        pool.try_add(formula)
    assert len(pool) >= 2
    (tmp_path / "pools").mkdir()
    pool.save(tmp_path / "pools" / "pool.json")
    spec = tmp_path / "w.toml"
    spec.write_text(
        "[data]\nmarket = 'sp500'\nstart = '2015-09-01'\nmax_symbols = 30\n"
        "[features]\nset = 'pool:pools/pool.json'\n[label]\nhorizon = 5\n"
        "[model]\nkind = 'linear'\n[strategy]\ntopk = 5\nn_drop = 1\n"
    )
    res = run_workflow(spec)  # split dates: the sp500 defaults
    assert list(res.feature_names) == pool.formulas
    assert str(res.dates[res.bounds["valid"][0]])[:10] == "2016-07-01"
    assert np.isfinite(res.ic["test"].ic)


def test_the_test_backtest_is_recorded_as_a_trial_and_deflated_by_its_study(tmp_path):
    """Each run's test backtest is one trial of its study; the DSR counts the study's trials."""
    from quantrl.jobs.store import Registry

    reg = tmp_path / "registry.sqlite"
    first = run_workflow(_spec(), study="wf", registry=reg)
    second = run_workflow(_spec(seed=7), study="wf", registry=reg)
    rows = Registry(reg).trials("wf")
    assert [(r["kind"], r["split"]) for r in rows] == [("workflow", "test")] * 2
    assert first.trials.n_trials == 1 and second.trials.n_trials == 2
    assert int(second.backtest_stats()["Trials (DSR)"]) == 2
    sharpe = [r["sharpe"] for r in rows]
    assert second.trials.sharpe_variance == pytest.approx(np.var(sharpe, ddof=1))
