"""ESG DRL study: ESG-blind observation, evaluation accounting, splits, seeded training."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.backtest.engine import run_weights
from quantrl.envs.esg import fill_missing_scores
from quantrl.experiments.esg_drl import FEES, DropFeatureBlock, evaluate, make_env, train_agent

SYMBOLS = ["AAPL", "JNJ", "KO", "MSFT", "WMT"]


def test_blind_observation_drops_exactly_the_esg_block() -> None:
    aware = make_env(SYMBOLS, "test", "regulated", aware=True)
    blind = make_env(SYMBOLS, "test", "regulated", aware=False)
    assert isinstance(blind, DropFeatureBlock)
    oa, _ = aware.reset(seed=0)
    ob, _ = blind.reset(seed=0)
    base = aware.unwrapped
    n, w = base.n_assets, base.window
    start = w * n + base.point_feature_names.index("esg_quality") * n
    np.testing.assert_array_equal(ob, np.delete(oa, np.arange(start, start + n)))
    q = fill_missing_scores(base.panel["esg_quality"])[base.t] / 100.0
    np.testing.assert_allclose(oa[start : start + n], q, rtol=1e-6)
    assert blind.observation_space.shape == (oa.size - n,)


def test_train_and_test_windows_do_not_overlap() -> None:
    train = make_env(SYMBOLS, "train", "free", aware=True).unwrapped
    test = make_env(SYMBOLS, "test", "free", aware=True).unwrapped
    assert train.panel.dates[train.first_row] >= np.datetime64("2021-03-03")
    assert train.panel.dates[-1] < np.datetime64("2022-07-01")
    assert test.panel.dates[test.first_row] >= np.datetime64("2023-01-01")


def test_evaluate_matches_backtester_in_free_market_and_scores_1n() -> None:
    env = make_env(SYMBOLS, "test", "free", aware=True)
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (400, len(SYMBOLS) + 1))
    base = env.unwrapped
    out = evaluate(env, lambda o: acts[base.t])
    res = run_weights(base.panel, out["weights"], fees=FEES)
    np.testing.assert_allclose(np.prod(1 + out["returns"]), res.equity[-1] / 1e6, rtol=1e-9)
    assert out["esg_adjustment"] == 0.0
    ones = np.concatenate([np.ones(len(SYMBOLS)), [-1.0]])
    eq = evaluate(make_env(SYMBOLS, "test", "free", aware=True), lambda o: ones)
    assert eq["portfolio_esg"] == pytest.approx(eq["market_esg"], rel=1e-9)


def test_regulated_market_pays_grant_to_high_esg_portfolio() -> None:
    env = make_env(SYMBOLS, "test", "regulated", aware=True)
    base = env.unwrapped
    q = fill_missing_scores(base.panel["esg_quality"])[base.first_row + 1]
    best = np.full(len(SYMBOLS) + 1, -1.0)
    best[int(np.argmax(q))] = 1.0
    out = evaluate(env, lambda o: best)
    assert out["portfolio_esg"] > out["market_esg"]
    assert out["esg_adjustment"] > 0.0
    assert out["taxed_steps"] == 0.0


@pytest.mark.parametrize("algo", ["A2C", "PPO"])
def test_training_is_seeded(algo: str) -> None:
    obs, _ = make_env(SYMBOLS, "test", "free", aware=False).reset(seed=0)
    preds = []
    for _ in range(2):
        env = make_env(SYMBOLS, "train", "free", aware=False, seed=3)
        model = train_agent(algo, env, 128, seed=3)
        preds.append(model.predict(obs, deterministic=True)[0])
    np.testing.assert_array_equal(preds[0], preds[1])


@pytest.mark.slow
def test_fast_run_writes_table_and_report(tmp_path) -> None:
    from quantrl.experiments import run_experiment

    res = run_experiment("esg_drl", tmp_path, fast=True, seed=0)
    t = res.table
    assert len(t) == 10  # 2 markets x (1/N + 2 algos x aware/blind)
    assert (t.loc[[i for i in t.index if "/ free /" in i], "esg_grant_minus_tax"] == 0).all()
    assert res.windows["train"][1] < res.windows["test"][0]
    assert (tmp_path / "report.html").exists() and (tmp_path / "table.csv").exists()
