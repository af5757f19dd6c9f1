"""Sharpe-reward portfolio study: universe selection, rollout accounting, splits, fast run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.agents.evaluate import rollout, trajectory_weights
from quantrl.backtest.engine import run_weights
from quantrl.data import load_market
from quantrl.data.panel import Panel
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.experiments.sharpe_portfolio import (
    FEES,
    SPLIT_DATES,
    TEMPERATURE,
    liquid_universe,
)


@pytest.fixture(scope="module")
def small_panel() -> Panel:
    full = load_market("sp500")
    return full.select(liquid_universe(full, 5, SPLIT_DATES[0]))


def test_universe_uses_training_data_only() -> None:
    full = load_market("sp500")
    picked = liquid_universe(full, 8, SPLIT_DATES[0])
    vol = np.array(full["volume"], copy=True)
    future = full.dates >= np.datetime64(SPLIT_DATES[0])
    rng = np.random.default_rng(0)
    vol[future] *= rng.uniform(0, 100, vol[future].shape)
    fields = dict(full.fields)
    fields["volume"] = vol
    perturbed = Panel(full.dates, full.symbols, fields)
    assert liquid_universe(perturbed, 8, SPLIT_DATES[0]) == picked
    assert all(np.isfinite(full.select([s])["close"]).all() for s in picked)
    # reference: pandas mean dollar volume over the training rows, complete histories only
    past = full.dates < np.datetime64(SPLIT_DATES[0])
    close = pd.DataFrame(full["close"], columns=full.symbols)
    opens = pd.DataFrame(full["open"], columns=full.symbols)
    volume = pd.DataFrame(full["volume"], columns=full.symbols)
    ok = close.notna().all() & opens.notna().all()
    dollar = (close[past] * volume[past]).mean()[ok]
    assert picked == sorted(dollar.sort_values(ascending=False).index[:8])


def test_rollout_weights_reproduce_env_equity(small_panel: Panel) -> None:
    env = PortfolioEnv(
        small_panel,
        split="test",
        split_dates=SPLIT_DATES,
        episode_length=None,
        fees=FEES,
        temperature=TEMPERATURE,
    )
    rng = np.random.default_rng(4)
    actions = rng.uniform(-1, 1, (env.panel.n_dates, small_panel.n_symbols + 1))

    def policy(obs: np.ndarray, env: PortfolioEnv) -> np.ndarray:
        return actions[env.t]

    traj = rollout(policy, env)
    weights = trajectory_weights(traj, env.panel.n_dates)
    res = run_weights(env.panel, weights, fees=FEES, execution="next_open")
    assert res.equity[-1] == pytest.approx(traj["equity"][-1], rel=1e-9)
    np.testing.assert_allclose(res.equity[-traj["equity"].size :], traj["equity"], rtol=1e-9)
    assert np.isfinite(weights[env.first_row : env.last_row]).all()
    assert np.isnan(weights[: env.first_row]).all() and np.isnan(weights[env.last_row]).all()
    # the targets are the env's softmax of the clipped action (reference in numpy)
    k = 17
    z = TEMPERATURE * np.clip(actions[env.first_row + k], -1.0, 1.0)
    ref = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    np.testing.assert_allclose(weights[env.first_row + k], ref[:-1], rtol=1e-12)


def test_train_and_test_windows_do_not_overlap(small_panel: Panel) -> None:
    train = PortfolioEnv(small_panel, split="train", split_dates=SPLIT_DATES)
    test = PortfolioEnv(small_panel, split="test", split_dates=SPLIT_DATES, episode_length=None)
    assert train.panel.dates[-1] < np.datetime64(SPLIT_DATES[0])
    assert test.panel.dates[test.first_row] >= np.datetime64(SPLIT_DATES[1])
    # test-split history rows come before the test start, and none are training decisions
    assert np.intersect1d(train.panel.dates, test.panel.dates[test.first_row :]).size == 0


@pytest.mark.slow
def test_fast_run_is_deterministic(tmp_path) -> None:
    from quantrl.experiments import run_experiment

    a = run_experiment("sharpe_portfolio", tmp_path / "a", fast=True, seed=1)
    b = run_experiment("sharpe_portfolio", tmp_path / "b", fast=True, seed=1)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert list(a.table.index) == ["1/N", "PPO sharpe", "PPO log_return"]
    assert (tmp_path / "a" / "report.html").exists()
    assert a.windows["train"][1] < a.windows["test"][0]
