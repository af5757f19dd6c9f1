"""Account step and market resolution of the environments."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.backtest import run_weights
from quantrl.envs import Account, Costs, HFTEnv
from quantrl.envs.core import resolve_panel, split_panel
from quantrl.errors import ConfigError


@pytest.mark.parametrize("execution", ["next_open", "next_close"])
def test_account_steps_reproduce_run_weights(synth, execution):
    panel = synth(90, 3, seed=7, holes=True)
    w = np.random.default_rng(1).dirichlet(np.ones(4), panel.n_dates)[:, :3]
    res = run_weights(panel, w, fees=0.003, fixed_fees=1.0, execution=execution)
    acc = Account(3, Costs(fees=0.003, fixed_fees=1.0, execution=execution))
    exec_prices = np.asarray(panel["open" if execution == "next_open" else "close"])
    close = np.asarray(panel["close"])
    equity = [1e6]
    for b in range(1, panel.n_dates):
        eq, _ = acc.step(b, exec_prices[b], close[b], w[b - 1])
        equity.append(eq)
    np.testing.assert_allclose(equity, res.equity, rtol=1e-12)


def test_costs_and_market_validation(synth):
    with pytest.raises(ConfigError, match="execution"):
        Costs(execution="same_close")
    with pytest.raises(ConfigError, match="slippage"):
        Costs(slippage=1.5)
    with pytest.raises(ConfigError, match="init_cash"):
        Costs(init_cash=0.0)
    with pytest.raises(ConfigError, match="unknown market"):
        resolve_panel("esg_yahoo_2021")  # a table, not a market
    with pytest.raises(ConfigError, match="split"):
        split_panel(synth(50, 2), "holdout", ("2015-01-10", "2015-01-20"), 0)


def test_intraday_splits_do_not_overlap(synth):
    panel = synth(1000, 1, seed=3, freq="m")
    parts = {
        s: HFTEnv(panel, split=s, episode_length=20, window=5, vol_window=5, impact_window=5)
        for s in ("train", "valid", "test")
    }
    train_end = parts["train"].panel.dates[-1]
    valid = parts["valid"]
    assert valid.panel.dates[valid.first_row] > train_end
    assert parts["test"].panel.dates[parts["test"].first_row] > valid.panel.dates[-1]


def test_make_env_by_short_name(synth):
    from quantrl.envs import make_env

    env = make_env(
        "portfolio", market=synth(80, 2), split="all", window=3, vol_window=3, episode_length=10
    )
    assert type(env.unwrapped).__name__ == "PortfolioEnv"
    env.reset(seed=0)
    with pytest.raises(ConfigError, match="unknown environment"):
        make_env("atari")
