"""Traditional tactics (MA crossover, mean reversion, momentum) against pandas references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.agents.evaluate import rollout
from quantrl.data import load_market
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.errors import ConfigError
from quantrl.experiments.tactics import (
    LONG,
    SHORT,
    TACTICS,
    tactic_action,
    tactic_picks,
    tactic_policy,
    top_k,
)


@pytest.fixture(scope="module")
def panel():
    return load_market("dow30", symbols=["AAPL", "AMGN", "AXP", "BA", "CAT", "KO", "MSFT"])


def _reference(close: pd.DataFrame, tactic: str, t: int) -> set[str]:
    """The assets a tactic holds at row t, from pandas rolling windows."""
    k = max(1, round(close.shape[1] / 6))
    if tactic == "ma_crossover":
        up = close.rolling(SHORT).mean().iloc[t] > close.rolling(LONG).mean().iloc[t]
        return set(close.columns[up.to_numpy()])
    if tactic == "mean_reversion":
        mean, std = close.rolling(LONG).mean().iloc[t], close.rolling(LONG).std().iloc[t]
        z = (close.iloc[t] - mean) / std
        return set(z.nsmallest(k).index)
    return set(close.pct_change(LONG).iloc[t].nlargest(k).index)


@pytest.mark.parametrize("tactic", list(TACTICS))
def test_tactics_match_pandas_rolling_windows(panel, tactic: str) -> None:
    close = pd.DataFrame(panel["close"], columns=panel.symbols)
    for t in range(30, 400, 7):
        picks = tactic_picks(panel["close"], tactic, t)
        assert set(np.asarray(panel.symbols)[picks]) == _reference(close, tactic, t), t


@pytest.mark.parametrize("tactic", list(TACTICS))
def test_tactics_see_only_the_past(panel, tactic: str) -> None:
    close = np.array(panel["close"], copy=True)
    before = [tactic_picks(close, tactic, t) for t in range(100, 140)]
    close[120:] *= np.random.default_rng(0).uniform(0.5, 1.5, close[120:].shape)
    after = [tactic_picks(close, tactic, t) for t in range(100, 140)]
    assert all((a == b).all() for a, b in zip(before[:20], after[:20], strict=True))
    assert any((a != b).any() for a, b in zip(before[20:], after[20:], strict=True))


def test_actions_give_equal_weights_on_the_picks_and_cash_when_none(panel) -> None:
    t = 200
    picks = tactic_picks(panel["close"], "momentum", t)
    assert picks.sum() == top_k(7) == 1
    a = tactic_action(panel, "momentum", t)
    z = 5.0 * a
    w = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert w[:-1][picks].sum() > 0.999
    # through the env: the targets are (almost) equal weights on the picks, 0 elsewhere
    env = PortfolioEnv(panel, split="train", episode_length=None, temperature=5.0)
    traj = rollout(tactic_policy(env.panel, "ma_crossover"), env)
    for k in (0, 50, 300):
        picks = tactic_picks(env.panel["close"], "ma_crossover", env.first_row + k)
        ref = np.where(picks, 1.0 / max(picks.sum(), 1), 0.0)
        np.testing.assert_allclose(traj["targets"][k], ref, atol=1e-3)
    # falling closes everywhere: no MA crossover pick, all cash
    falling = np.linspace(200, 100, 40)[:, None] * np.ones((1, 3))
    assert not tactic_picks(falling, "ma_crossover", 30).any()
    # a missing close in the window: never picked
    gappy = np.array(panel["close"][:60], copy=True)
    gappy[45, 0] = np.nan
    assert (
        not tactic_picks(gappy, "momentum", 50)[0]
        and not tactic_picks(gappy, "ma_crossover", 50)[0]
    )
    with pytest.raises(ConfigError, match="unknown tactic"):
        tactic_picks(panel["close"], "dual_thrust", 50)
    with pytest.raises(ConfigError, match="history"):
        tactic_picks(panel["close"], "momentum", 5)
