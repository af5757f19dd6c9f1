"""FinRL's ``StockPortfolioEnv`` re-implemented for workload E (FinRL is not a PyPI dependency).

This follows the algorithm of FinRL's portfolio-allocation environment
(``finrl/meta/env_portfolio_allocation/env_portfolio.py``) step for step, ported to the
gymnasium 5-tuple API:

* the data is a long pandas frame indexed by the day number (``df.index = date factorized``),
  one row per (day, ticker), with a ``cov_list`` column holding each day's covariance matrix of
  the previous ``lookback`` daily returns, plus technical-indicator columns;
* each ``step`` selects the day's rows with ``df.loc[day, :]``, rebuilds the state as the
  covariance matrix stacked over the indicator rows (``(N + n_tech, N)``), turns the action into
  weights by softmax normalisation, and grows the portfolio by the weighted simple returns of
  the day (FinRL's env ignores ``transaction_cost_pct``; so does this port);
* it keeps FinRL's memories (actions, returns, values, dates) and its reward (the new portfolio
  value times ``reward_scaling``).

The plotting and printing FinRL does on the terminal step are left out; they are not part of
the per-step cost that the benchmark measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces


def finrl_frame(close: pd.DataFrame, lookback: int = 252) -> tuple[pd.DataFrame, list[str]]:
    """FinRL-style long frame: date, tic, close, ``cov_list`` and four technical indicators."""
    returns = close.pct_change()
    tech = {
        "macd": close.ewm(span=12).mean() - close.ewm(span=26).mean(),
        "rsi_30": 100
        - 100
        / (
            1
            + returns.clip(lower=0).rolling(30).mean() / (-returns.clip(upper=0)).rolling(30).mean()
        ),
        "cci_30": (close - close.rolling(30).mean()) / (0.015 * close.rolling(30).std()),
        "dx_30": returns.abs().rolling(30).mean() * 100,
    }
    values = returns.to_numpy()
    covs = []
    dates = close.index[lookback:]
    for i in range(lookback, len(close)):
        covs.append(np.cov(values[i - lookback + 1 : i + 1].T))
    frames = []
    for k, date in enumerate(dates):
        frame = pd.DataFrame(
            {
                "date": date,
                "tic": close.columns,
                "close": close.loc[date].to_numpy(),
                **{name: ind.loc[date].to_numpy() for name, ind in tech.items()},
            }
        )
        frame["cov_list"] = [covs[k]] * len(close.columns)
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True).fillna(0.0)
    df.index = df.date.factorize()[0]
    return df, list(tech)


class StockPortfolioEnv(gym.Env):
    """FinRL's portfolio-allocation environment (per-step ``df.loc[day]``, softmax weights)."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        df: pd.DataFrame,
        stock_dim: int,
        hmax: int,
        initial_amount: float,
        transaction_cost_pct: float,
        reward_scaling: float,
        state_space: int,
        action_space: int,
        tech_indicator_list: Sequence[str],
        lookback: int = 252,
        day: int = 0,
    ) -> None:
        self.day = day
        self.lookback = lookback
        self.df = df
        self.stock_dim = stock_dim
        self.hmax = hmax
        self.initial_amount = initial_amount
        self.transaction_cost_pct = transaction_cost_pct
        self.reward_scaling = reward_scaling
        self.state_space = state_space
        self.tech_indicator_list = list(tech_indicator_list)
        self.action_space = spaces.Box(low=0, high=1, shape=(action_space,))
        self.observation_space = spaces.Box(
            low=-np.inf,
            high=np.inf,
            shape=(self.state_space + len(self.tech_indicator_list), self.state_space),
        )
        self._load_day()
        self.terminal = False
        self.reward = 0.0
        self.portfolio_value = self.initial_amount
        self.asset_memory = [self.initial_amount]
        self.portfolio_return_memory = [0]
        self.actions_memory = [[1 / self.stock_dim] * self.stock_dim]
        self.date_memory = [self.data.date.unique()[0]]

    def _load_day(self) -> None:
        self.data = self.df.loc[self.day, :]
        self.covs = self.data["cov_list"].values[0]
        self.state = np.append(
            np.array(self.covs),
            [self.data[tech].values.tolist() for tech in self.tech_indicator_list],
            axis=0,
        )

    def step(self, actions: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """FinRL's step: softmax weights, next day's rows via ``df.loc``, weighted returns."""
        self.terminal = self.day >= len(self.df.index.unique()) - 1
        if self.terminal:
            return self.state, self.reward, self.terminal, False, {}
        weights = self.softmax_normalization(actions)
        self.actions_memory.append(weights)
        last_day_memory = self.data
        self.day += 1
        self._load_day()
        portfolio_return = sum(
            ((self.data.close.values / last_day_memory.close.values) - 1) * weights
        )
        new_portfolio_value = self.portfolio_value * (1 + portfolio_return)
        self.portfolio_value = new_portfolio_value
        self.portfolio_return_memory.append(portfolio_return)
        self.date_memory.append(self.data.date.unique()[0])
        self.asset_memory.append(new_portfolio_value)
        self.reward = new_portfolio_value * self.reward_scaling
        return self.state, self.reward, self.terminal, False, {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """FinRL's reset: back to day 0 with the initial amount."""
        super().reset(seed=seed)
        self.asset_memory = [self.initial_amount]
        self.day = 0
        self._load_day()
        self.portfolio_value = self.initial_amount
        self.terminal = False
        self.portfolio_return_memory = [0]
        self.actions_memory = [[1 / self.stock_dim] * self.stock_dim]
        self.date_memory = [self.data.date.unique()[0]]
        return self.state, {}

    @staticmethod
    def softmax_normalization(actions: np.ndarray) -> np.ndarray:
        """``exp(a) / sum(exp(a))``, as FinRL normalises actions."""
        numerator = np.exp(actions)
        denominator = np.sum(np.exp(actions))
        return numerator / denominator
