"""A constant policy in each of the four environments equals ``run_weights`` on the same data."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.backtest import run_weights
from quantrl.envs import Costs, ESGPortfolioEnv, HFTEnv, PairsTradingEnv


def _episode(env, action):
    """Equity at each row of one whole-split episode from the first row, ``action`` each step."""
    _, info = env.reset(options={"start": env.first_row})
    equity, done = [info["equity"]], False
    while not done:
        _, _, term, trunc, info = env.step(action)
        equity.append(info["equity"])
        done = term or trunc
    return np.array(equity)


def _backtest(env, weights, **costs):
    seg = env.panel.slice(env.panel.dates[env.first_row], None)
    return run_weights(seg, np.tile(weights, (seg.n_dates, 1)), **costs).equity


@pytest.mark.parametrize("execution", ["next_open", "next_close"])
def test_esg_without_regulation(synth, execution):
    # Portfolio-v0 itself: tests/envs/test_portfolio_env.py::test_constant_weights_match_run_weights
    panel = synth(150, 3, seed=1, holes=True)
    q = np.tile([50.0, 60.0, 70.0], (panel.n_dates, 1))
    w = np.array([0.3, 0.25, 0.2])
    env = ESGPortfolioEnv(
        panel.with_extras(esg_quality=q),
        split="all",
        window=3,
        vol_window=3,
        episode_length=None,
        action_mode="weights",
        esg={"gamma": 0.0, "theta": 0.0},
        costs=Costs(fees=0.002, slippage=0.001, execution=execution),
    )
    ref = _backtest(env, w, fees=0.002, slippage=0.001, execution=execution)
    np.testing.assert_allclose(_episode(env, w), ref, rtol=1e-9, atol=0)


@pytest.mark.parametrize("level, weight", [(8, 0.6), (0, -1.0), (5, 0.0)])
def test_hft_without_impact(synth, level, weight):
    panel = synth(400, 1, seed=2, freq="m")
    env = HFTEnv(
        panel,
        split="all",
        episode_length=None,
        window=5,
        vol_window=5,
        impact_window=10,
        impact="none",
        commission=0.0005,
        slippage=0.0002,
    )
    assert env.levels[level] == pytest.approx(weight)
    ref = _backtest(env, [env.levels[level]], fees=0.0005, slippage=0.0002)
    np.testing.assert_allclose(_episode(env, level), ref, rtol=1e-9, atol=0)


@pytest.mark.parametrize("action", [0, 1, 2])
def test_pairs(synth, action):
    panel = synth(200, 2, seed=3)
    env = PairsTradingEnv(
        panel, split="all", pair=("S1", "S0"), beta=0.7, episode_length=None, fees=0.002
    )
    assert env.panel.symbols == ("S1", "S0")
    ref = _backtest(env, env.target_weights(action), fees=0.002, execution="next_close")
    np.testing.assert_allclose(_episode(env, action), ref, rtol=1e-9, atol=0)
