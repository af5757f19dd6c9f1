"""Imitation warm start: demonstrations confined to training rows, teacher choice, cloning."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.agents import make_agent
from quantrl.agents.evaluate import rollout, trajectory_weights
from quantrl.backtest.engine import run_weights
from quantrl.data import load_market
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.experiments.imitation import (
    FEES,
    ImitationExperiment,
    behaviour_clone,
    demonstrations,
    slug,
    teacher_table,
)
from quantrl.experiments.tactics import TACTICS, tactic_action, tactic_policy


@pytest.fixture(scope="module")
def panel():
    return load_market("dow30", symbols=["AAPL", "KO", "MSFT", "JPM"])


def test_demonstrations_stay_in_training_split(panel) -> None:
    env = PortfolioEnv(panel, split="train", episode_length=None, sampling="sequential")
    obs, acts, _ = demonstrations(env, "momentum")
    assert obs.shape[0] == acts.shape[0] == env.last_row - env.first_row
    # every label is the tactic's action at its row, every observation the env's at that row
    np.testing.assert_array_equal(acts[7], tactic_action(env.panel, "momentum", env.first_row + 7))
    first, _ = env.reset(options={"start": env.first_row})
    np.testing.assert_array_equal(obs[0], first)
    assert env.panel.dates[-1] < np.datetime64("2019-01-01")
    test = PortfolioEnv(panel, split="test", episode_length=None)
    assert test.panel.dates[test.first_row] >= np.datetime64("2021-01-01")


def test_the_teacher_is_the_best_tactic_on_the_training_split(panel) -> None:
    env = PortfolioEnv(panel, split="train", episode_length=None, sampling="sequential")
    table, best = teacher_table(env)
    assert list(table["key"]) == list(TACTICS)
    ref = {}
    for key in TACTICS:
        w = trajectory_weights(rollout(tactic_policy(env.panel, key), env), env.panel.n_dates)
        ref[key] = float(run_weights(env.panel, w, fees=FEES).stats()["Sharpe ratio"])
    np.testing.assert_allclose(table["sharpe"].to_numpy(), list(ref.values()))
    assert best == max(ref, key=ref.get)


def test_behaviour_cloning_fits_the_teacher_and_is_seeded(panel) -> None:
    env = PortfolioEnv(panel, split="train", episode_length=None, sampling="sequential")
    obs, acts, _ = demonstrations(env, "momentum")
    obs, acts = obs[:600], acts[:600]
    m1 = make_agent("ppo", env, seed=0)
    losses = behaviour_clone(m1, obs, acts, epochs=4, seed=0)
    assert losses[-1] < 0.5 * losses[0]
    m2 = make_agent("ppo", env, seed=0)
    assert behaviour_clone(m2, obs, acts, epochs=4, seed=0) == losses
    # the teacher never holds cash: the cloned policy learned to score cash lowest
    pred = m1.predict(obs[:50], deterministic=True)[0]
    assert (pred[:, -1] < pred[:, :-1].mean(axis=1)).all()
    # and it picks the teacher's asset more often than chance (1 in 4)
    pred = m1.predict(obs, deterministic=True)[0]
    agree = np.mean(pred[:, :-1].argmax(axis=1) == acts[:, :-1].argmax(axis=1))
    assert agree > 0.4


def test_claims_name_the_papers_settings_and_slugs_name_the_policies() -> None:
    for claim in ImitationExperiment.claims:
        assert claim.paper and claim.ours and claim.differs
    assert [slug(p) for p in ("1/N", "BC + PPO", "BC only", "PPO scratch")] == [
        "equal_weight",
        "bc_ppo",
        "bc_only",
        "ppo_scratch",
    ]
    assert [slug(name) for name in TACTICS.values()] == list(TACTICS)


@pytest.mark.slow
def test_fast_run_is_deterministic_and_measures_every_claim(tmp_path) -> None:
    import pandas as pd

    from quantrl.experiments import run_experiment

    a = run_experiment("imitation", tmp_path / "a", fast=True, seed=0, seeds=2)
    b = run_experiment("imitation", tmp_path / "b", fast=True, seed=0)
    first = a.runs[0]
    pd.testing.assert_frame_equal(first.table, b.table)
    assert first.measurements == b.runs[0].measurements
    assert a.windows["train (demonstrations, RL)"][1] < a.windows["test"][0]
    assert set(first.table.index) == {
        "1/N",
        *TACTICS.values(),
        "BC only",
        "BC + PPO",
        "PPO scratch",
    }
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
