"""ESG DRL study: ESG-blind observation, evaluation accounting, splits, seeded training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.backtest.engine import run_weights
from quantrl.data import load_market
from quantrl.envs.esg import fill_missing_scores
from quantrl.experiments.esg_drl import (
    CLAIMS,
    FEES,
    DropFeatureBlock,
    DropFeatureBlockVec,
    env_kwargs,
    evaluate,
    make_env,
    measure,
    train_variant,
)

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
    out = evaluate(env, lambda o, e: acts[base.t])
    res = run_weights(base.panel, out["weights"], fees=FEES)
    np.testing.assert_allclose(np.prod(1 + out["returns"]), res.equity[-1] / 1e6, rtol=1e-9)
    assert out["esg_adjustment"] == 0.0
    ones = np.concatenate([np.ones(len(SYMBOLS)), [-1.0]])
    eq = evaluate(make_env(SYMBOLS, "test", "free", aware=True), lambda o, e: ones)
    assert eq["portfolio_esg"] == pytest.approx(eq["market_esg"], rel=1e-9)


def test_regulated_market_pays_grant_to_high_esg_portfolio() -> None:
    env = make_env(SYMBOLS, "test", "regulated", aware=True)
    base = env.unwrapped
    q = fill_missing_scores(base.panel["esg_quality"])[base.first_row + 1]
    best = np.full(len(SYMBOLS) + 1, -1.0)
    best[int(np.argmax(q))] = 1.0
    out = evaluate(env, lambda o, e: best)
    assert out["portfolio_esg"] > out["market_esg"]
    assert out["esg_adjustment"] > 0.0
    assert out["taxed_steps"] == 0.0


def test_equal_weights_are_neither_taxed_nor_granted_in_the_regulated_market() -> None:
    dow = load_market("dow30")
    symbols = list(dow.symbols)  # 29 names: 1/N's score equals the mean only up to rounding
    ones = np.concatenate([np.ones(len(symbols)), [-1.0]])
    out = evaluate(make_env(symbols, "test", "regulated", aware=True), lambda o, e: ones)
    assert out["esg_adjustment"] == 0.0 and out["taxed_steps"] == 0.0
    free = evaluate(make_env(symbols, "test", "free", aware=True), lambda o, e: ones)
    np.testing.assert_allclose(out["returns"], free["returns"], rtol=0, atol=1e-15)


def test_batched_blind_env_drops_the_block_of_every_env_and_terminal_obs() -> None:
    from quantrl.envs.esg import ESGPortfolioEnv
    from quantrl.envs.vector import make_sb3_vec_env

    kw = {**env_kwargs(SYMBOLS, "free"), "episode_length": 3}
    symbols = kw.pop("symbols")
    aware = make_sb3_vec_env(4, "dow30", env_cls=ESGPortfolioEnv, symbols=symbols, seed=1, **kw)
    blind = DropFeatureBlockVec(
        make_sb3_vec_env(4, "dow30", env_cls=ESGPortfolioEnv, symbols=symbols, seed=1, **kw),
        aware.venv.template,
    )
    keep = DropFeatureBlock(make_env(SYMBOLS, "train", "free", aware=True))._keep
    np.testing.assert_array_equal(blind.reset(), aware.reset()[:, keep])
    assert blind.observation_space.shape == (int(keep.sum()),)
    actions = np.zeros((4, len(SYMBOLS) + 1))
    for _ in range(3):
        aware.step_async(actions)
        blind.step_async(actions)
        (oa, ra, da, ia), (ob, rb, db, ib) = aware.step_wait(), blind.step_wait()
        np.testing.assert_array_equal(db, da)
        np.testing.assert_array_equal(ob, oa[:, keep])
        np.testing.assert_array_equal(rb, ra)
    assert db.all()
    for a, b in zip(ia, ib, strict=True):
        np.testing.assert_array_equal(b["terminal_observation"], a["terminal_observation"][keep])


@pytest.mark.parametrize("algo", ["A2C", "PPO"])
def test_training_is_seeded(algo: str) -> None:
    obs, _ = make_env(SYMBOLS, "test", "free", aware=False).reset(seed=0)
    preds = []
    for seed in (3, 3, 4):
        model = train_variant(algo, SYMBOLS, "free", aware=False, steps=256, seed=seed)
        preds.append(model.predict(obs, deterministic=True)[0])
    np.testing.assert_array_equal(preds[0], preds[1])
    assert not np.array_equal(preds[0], preds[2])  # another seed, another policy


def test_measurements_are_means_over_algorithms_and_universes() -> None:
    rows = []
    for u, bump in (("a", 0.0), ("b", 1.0)):
        for market in ("regulated", "free"):
            for k, policy in enumerate(["1/N", "A2C aware", "A2C blind", "PPO aware", "PPO blind"]):
                reg = market == "regulated"
                rows.append(
                    {
                        "universe": u,
                        "market": market,
                        "policy": policy,
                        "total_return": bump + k + (10 if reg else 0),
                        "sharpe": bump + 2 * k + (20 if reg else 0),
                        "portfolio_esg": 70.0 + k + bump,
                        "market_esg": 60.0 + bump,
                    }
                )
    m = measure(pd.DataFrame(rows))
    # agents k = 1..4 in each universe: mean k = 2.5, mean bump = 0.5
    assert m["regulated_return"] == pytest.approx(0.5 + 2.5 + 10)
    assert m["free_return"] == pytest.approx(0.5 + 2.5)
    assert m["regulated_sharpe"] == pytest.approx(0.5 + 5 + 20)
    assert m["free_sharpe"] == pytest.approx(0.5 + 5)
    assert m["aware_sharpe"] == pytest.approx(0.5 + 2 * 2 + 20)  # k = 1, 3
    assert m["blind_sharpe"] == pytest.approx(0.5 + 2 * 3 + 20)  # k = 2, 4
    assert m["regulated_aware_esg"] == pytest.approx(70.0 + 2 + 0.5)
    assert m["market_esg"] == pytest.approx(60.5)
    assert m["equal_weight_sharpe"] == pytest.approx(0.5 + 20)
    names = {n for c in CLAIMS if c.testable for n in (c.metric, c.baseline) if n}
    assert names <= set(m)


@pytest.mark.slow
def test_fast_run_writes_table_and_report_and_measures_every_claim(tmp_path) -> None:
    from quantrl.experiments import run_experiment

    res = run_experiment("esg_drl", tmp_path / "a", fast=True, seed=0, seeds=2)
    again = run_experiment("esg_drl", tmp_path / "b", fast=True, seed=1)
    t = res.runs[0].table
    assert len(t) == 10  # 2 markets x (1/N + 2 algos x aware/blind)
    assert (t.loc[[i for i in t.index if "/ free /" in i], "esg_grant_minus_tax"] == 0).all()
    assert res.windows["train"][1] < res.windows["test"][0]
    assert (tmp_path / "a" / "report.html").exists()
    verdicts = pd.read_csv(tmp_path / "a" / "table.csv", index_col=0)
    assert list(verdicts.index) == [c.key for c in CLAIMS]
    assert (verdicts["seeds"] == [2 if c.testable else 0 for c in CLAIMS]).all()
    first, second = res.runs[0].measurements, res.runs[1].measurements
    assert first["free_sharpe"] == pytest.approx(
        t.loc[[i for i in t.index if "/ free /" in i and "1/N" not in i], "sharpe"].mean()
    )
    # same seed -> same measurements; another seed trains other agents, 1/N stays
    assert again.runs[1].measurements == second
    assert first["equal_weight_sharpe"] == second["equal_weight_sharpe"]
    assert first["regulated_sharpe"] != second["regulated_sharpe"]
