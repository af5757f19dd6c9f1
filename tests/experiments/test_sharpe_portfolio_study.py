"""Sharpe-reward portfolio study: universe selection, rollout accounting, splits, fast run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.agents.evaluate import rollout, trajectory_weights
from quantrl.backtest.allocation import allocate
from quantrl.backtest.engine import run_weights
from quantrl.data import load_market
from quantrl.data.panel import Panel
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.experiments.sharpe_portfolio import (
    CLAIMS,
    FEES,
    LOOKBACK,
    SPLIT_DATES,
    TEMPERATURE,
    SharpePortfolioExperiment,
    econometric_weights,
    liquid_universe,
    slug,
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


def test_econometric_baselines_use_trailing_returns_only(small_panel: Panel) -> None:
    test = PortfolioEnv(small_panel, split="test", split_dates=SPLIT_DATES, episode_length=None)
    seg, first = test.panel, test.first_row
    weights = econometric_weights(small_panel, seg, first)
    assert set(weights) == {"min variance", "max Sharpe", "risk parity"}
    offset = int(np.searchsorted(small_panel.dates, seg.dates[0]))
    close = small_panel["close"]
    for label, method in (("min variance", "min_variance"), ("risk parity", "risk_parity")):
        w = weights[label]
        assert w.shape == (seg.n_dates, seg.n_symbols)
        assert (w[:first] == 0).all()
        np.testing.assert_allclose(w[first:].sum(axis=1), 1.0)
        # the decision at test row first + 10 (estimated at first + 10) uses rows up to it only
        t = offset + first + 10
        window = close[t - LOOKBACK : t + 1]
        ref = allocate(method, window[1:] / window[:-1] - 1)
        np.testing.assert_allclose(w[first + 10], ref, atol=1e-12)
        np.testing.assert_array_equal(w[first + 10], w[first + 14])
    # prices after the test split's 20th decision do not move the weights decided before it
    fields = dict(small_panel.fields)
    fields["close"] = np.array(close, copy=True)
    fields["close"][offset + first + 20 :] *= 1.5
    moved = Panel(small_panel.dates, small_panel.symbols, fields)
    again = econometric_weights(moved, seg, first)
    for label in weights:
        np.testing.assert_array_equal(again[label][: first + 20], weights[label][: first + 20])


def test_claims_name_the_papers_settings_and_measurements_follow_the_policies() -> None:
    assert {c.key for c in CLAIMS} >= {"beats_equal_weight", "sharpe_beats_log_return"}
    for claim in CLAIMS:
        assert claim.paper and claim.ours and claim.differs
    assert slug("1/N") == "equal_weight" and slug("PPO log_return") == "ppo_log_return"


@pytest.mark.slow
def test_fast_run_is_deterministic_and_measures_every_claim(tmp_path) -> None:
    from quantrl.experiments import run_experiment

    a = run_experiment("sharpe_portfolio", tmp_path / "a", fast=True, seed=1, seeds=2)
    b = run_experiment("sharpe_portfolio", tmp_path / "b", fast=True, seed=1)
    first = a.runs[1]
    pd.testing.assert_frame_equal(first.table, b.table)
    assert first.measurements == b.runs[1].measurements
    assert list(b.table.index) == [
        "1/N",
        "min variance",
        "max Sharpe",
        "risk parity",
        "PPO sharpe",
        "PPO log_return",
        "PPO sharpe CNN",
    ]
    assert (tmp_path / "a" / "report.html").exists()
    assert a.windows["train"][1] < a.windows["test"][0]
    # every claim is judged, its measurements are there, and they are the table's figures
    claims = SharpePortfolioExperiment.claims
    assert list(a.verdicts.index) == [c.key for c in claims]
    assert (a.verdicts["seeds"] == [2 if c.testable else 0 for c in claims]).all()
    names = {m for c in claims for m in (c.metric, c.baseline) if c.testable and m}
    assert names <= set(first.measurements)
    assert first.measurements["ppo_sharpe_sharpe"] == b.table.loc["PPO sharpe", "sharpe"]
    assert first.measurements["equal_weight_max_drawdown"] == b.table.loc["1/N", "max_drawdown"]
    # the seed reaches the agents: another seed trains other agents, 1/N is the same
    other = a.runs[2].measurements
    assert other["equal_weight_sharpe"] == first.measurements["equal_weight_sharpe"]
    assert other["ppo_sharpe_sharpe"] != first.measurements["ppo_sharpe_sharpe"]
