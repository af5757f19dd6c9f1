"""Imitation warm start: oracle labels, dataset confined to training rows, behaviour cloning."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.agents import make_agent
from quantrl.data import load_market
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.experiments.imitation import (
    ImitationExperiment,
    behaviour_clone,
    oracle_action,
    oracle_dataset,
    slug,
)


@pytest.fixture(scope="module")
def panel():
    return load_market("dow30", symbols=["AAPL", "KO", "MSFT", "JPM"])


def test_oracle_picks_best_next_open_to_close(panel) -> None:
    t = 100
    o, c = panel["open"][t + 1], panel["close"][t + 1]
    best = int(np.argmax(c / o - 1))
    a = oracle_action(panel, t)
    assert a[best] == 1.0 and (np.delete(a, best) == -1.0).all()
    # a brute-force loop agrees on many rows
    for t in range(50, 80):
        r = [panel["close"][t + 1, j] / panel["open"][t + 1, j] - 1 for j in range(4)]
        assert int(np.argmax(oracle_action(panel, t)[:4])) == int(np.argmax(r))


def test_oracle_dataset_stays_in_training_split(panel) -> None:
    env = PortfolioEnv(panel, split="train", episode_length=None, sampling="sequential")
    obs, acts = oracle_dataset(env)
    assert obs.shape[0] == acts.shape[0] == env.last_row - env.first_row
    # every label is the oracle's action at its row, every observation the env's at that row
    np.testing.assert_array_equal(acts[7], oracle_action(env.panel, env.first_row + 7))
    first, _ = env.reset(options={"start": env.first_row})
    np.testing.assert_array_equal(obs[0], first)
    assert env.panel.dates[-1] < np.datetime64("2019-01-01")
    test = PortfolioEnv(panel, split="test", episode_length=None)
    assert test.panel.dates[test.first_row] >= np.datetime64("2021-01-01")


def test_behaviour_cloning_fits_the_oracle_and_is_seeded(panel) -> None:
    env = PortfolioEnv(panel, split="train", episode_length=None, sampling="sequential")
    obs, acts = oracle_dataset(env)
    obs, acts = obs[:600], acts[:600]
    m1 = make_agent("ppo", env, seed=0)
    losses = behaviour_clone(m1, obs, acts, epochs=4, seed=0)
    # the labels are next-day noise: the best constant predictor scores 0.6 (4 assets + cash)
    assert losses[-1] < 0.7 * losses[0]
    assert losses[-1] < 0.66
    m2 = make_agent("ppo", env, seed=0)
    assert behaviour_clone(m2, obs, acts, epochs=4, seed=0) == losses
    pred = m1.predict(obs[:50], deterministic=True)[0]
    # the oracle never holds cash: the cloned policy learned to score cash lowest
    assert (pred[:, -1] < pred[:, :-1].mean(axis=1)).all()


def test_claims_name_the_papers_settings_and_slugs_name_the_policies() -> None:
    for claim in ImitationExperiment.claims:
        assert claim.paper and claim.ours and claim.differs
    assert [slug(p) for p in ("1/N", "BC + PPO", "BC only", "PPO scratch")] == [
        "equal_weight",
        "bc_ppo",
        "bc_only",
        "ppo_scratch",
    ]


@pytest.mark.slow
def test_fast_run_is_deterministic_and_measures_every_claim(tmp_path) -> None:
    import pandas as pd

    from quantrl.experiments import run_experiment

    a = run_experiment("imitation", tmp_path / "a", fast=True, seed=0, seeds=2)
    b = run_experiment("imitation", tmp_path / "b", fast=True, seed=0)
    first = a.runs[0]
    pd.testing.assert_frame_equal(first.table, b.table)
    assert first.measurements == b.runs[0].measurements
    assert a.windows["train (oracle data, RL)"][1] < a.windows["test"][0]
    claims = ImitationExperiment.claims
    assert list(a.verdicts.index) == [c.key for c in claims]
    names = {m for c in claims for m in (c.metric, c.baseline) if c.testable and m}
    assert names <= set(first.measurements)
    assert first.measurements["bc_ppo_sharpe"] == b.table.loc["BC + PPO", "sharpe"]
    # the seed reaches the agents: another seed trains other agents, 1/N is the same
    other = a.runs[1].measurements
    assert other["equal_weight_sharpe"] == first.measurements["equal_weight_sharpe"]
    assert other["bc_ppo_sharpe"] != first.measurements["bc_ppo_sharpe"]
    assert other["ppo_scratch_sharpe"] != first.measurements["ppo_scratch_sharpe"]
