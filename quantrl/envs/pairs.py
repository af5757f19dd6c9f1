"""``quantrl/PairsTrading-v0``: trade the spread of a cointegrated pair with three actions.

Pair selection (when no ``pair`` is given): the Engle-Granger test of every pair on the training
rows through ``quantrl.stats.cointegration`` (statsmodels ``coint``: OLS of ``log a`` on
``log b`` with a constant, ADF on the residual with exactly one lag, MacKinnon
p-value); the pair with the smallest p-value is traded. To trade only pairs that pass a correction
for the number of pairs tried, use ``coint_pairs`` (Holm) and pass ``pair=`` explicitly.

Spread ``s_t = log a_t - beta log b_t`` with ``beta`` from the training rows only; its z-score uses
the mean and std of the last ``window`` spreads up to t. Action ``Discrete(3)``: 0 = short the
spread, 1 = flat, 2 = long the spread; long spread targets weights
``(1, -beta) / (1 + |beta|)`` of equity in (a, b) (gross 1), short the negative; any other action
(1e20, 2.5, NaN) raises a ``ConfigError``. The account is the backtester's: the targets go
through the shared account kernel (``quantrl.kernels.envs.step_one_nb`` in weights mode), so
an episode is ``run_weights(segment, weights, execution="next_close")`` bar for bar. The order
decided at the close of row t fills at the close of row t + 1 (``execution="next_close"``, the
default here) paying the ``costs`` (``fees`` 10 bp by default); the reward (``reward``, default
the log growth of equity to that close, -1 if equity is wiped out) follows
``quantrl.envs.rewards``, so a position's P&L arrives in the following steps. Observation
(float32): the last ``n_lags`` z-scores (clipped to [-10, 10]), then the one-hot current position
(short, flat, long). ``info`` adds ``position`` (-1, 0, 1).

Settings come as records or flat keywords (``quantrl.envs.config``): ``costs=Costs(...)`` or
``fees``, ``fixed_fees``, ``slippage``, ``init_cash``, ``execution``, ``rebalance_threshold``,
``max_leverage``; ``spread=SpreadConfig(...)`` or ``window``, ``n_lags``;
``reward=RewardConfig(...)`` or ``reward``, ``reward_eta``, ``reward_lambda``, ``reward_window``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from quantrl.data.panel import Panel
from quantrl.envs.base import TradingEnv, discrete_action
from quantrl.envs.config import Costs, SpreadConfig, slot
from quantrl.envs.core import DEFAULT_SPLITS, exec_prices, split_panel
from quantrl.envs.rewards import RewardConfig
from quantrl.errors import ConfigError
from quantrl.kernels.env_state import MODE_WEIGHTS, TGT, Market
from quantrl.stats.cointegration import coint_pairs


def ols_hedge(log_a: np.ndarray, log_b: np.ndarray) -> tuple[float, float]:
    """OLS ``log_a = alpha + beta log_b``: returns (beta, alpha)."""
    x = np.column_stack([np.ones_like(log_b), log_b])
    coef, *_ = np.linalg.lstsq(x, log_a, rcond=None)
    return float(coef[1]), float(coef[0])


def rank_pairs(panel: Panel, lags: int = 1) -> list[tuple[str, str, float, float]]:
    """All symbol pairs with complete closes, most cointegrated first: (a, b, beta, t).

    The Engle-Granger test of ``quantrl.stats.cointegration`` (statsmodels ``coint``) with exactly
    ``lags`` lags; pairs sorted by its p-value (equivalently its ADF t-statistic), then names.
    """
    frame = coint_pairs(panel, maxlag=lags, autolag=None)
    return [
        (str(r.a), str(r.b), float(r.beta), float(r.adf_t)) for r in frame.itertuples(index=False)
    ]


def rolling_zscore(spread: np.ndarray, window: int) -> np.ndarray:
    """z-score of ``spread[t]`` against the mean/std (ddof 0) of rows ``t - window + 1 .. t``."""
    z = np.full(spread.size, np.nan)
    c1 = np.concatenate(([0.0], np.cumsum(spread)))
    c2 = np.concatenate(([0.0], np.cumsum(spread * spread)))
    for t in range(window - 1, spread.size):
        m = (c1[t + 1] - c1[t + 1 - window]) / window
        v = max((c2[t + 1] - c2[t + 1 - window]) / window - m * m, 0.0)
        z[t] = (spread[t] - m) / np.sqrt(v) if v > 1e-16 else 0.0
    return z


def spread_weights(beta: float) -> np.ndarray:
    """Target weights of one unit of long spread in (a, b): ``(1, -beta) / (1 + |beta|)``."""
    return np.array([1.0, -beta]) / (1.0 + abs(beta))


class PairsTradingEnv(TradingEnv):
    """Short / flat / long the spread of a pair on daily bars (``PairsTrading-v0``)."""

    CONFIG = {
        "costs": slot(Costs(execution="next_close")),
        "reward": slot(RewardConfig()),
        "spread": slot(SpreadConfig()),
    }

    def __init__(
        self,
        market: str | Panel = "dow30",
        *,
        pair: tuple[str, str] | None = None,
        beta: float | None = None,
        episode_length: int | None = 252,
        **kwargs: Any,
    ) -> None:
        self._pair_arg = pair
        self._beta_arg = beta
        super().__init__(market, episode_length=episode_length, **kwargs)

    # ------------------------------------------------------------------ TradingEnv hooks
    def _configure(self) -> None:
        self.spread_config: SpreadConfig = self.config["spread"]
        self.window = self.spread_config.window
        self.n_lags = self.spread_config.n_lags

    def _select(self, panel: Panel, split_dates: tuple[Any, Any] | None) -> Panel:
        pair, beta = self._pair_arg, self._beta_arg
        if pair is None or beta is None:
            train = split_panel(panel, "train", split_dates, 0, DEFAULT_SPLITS)
            if pair is None:
                a, b, beta_sel, _ = rank_pairs(train)[0]
                pair = (a, b)
                beta = beta_sel if beta is None else beta
        if isinstance(pair, str) or len(pair) != 2:
            raise ConfigError(f"pair must be two symbols, got {pair!r}")
        for s in pair:
            if s not in panel.symbols:
                raise ConfigError(f"pair symbol {s!r} is not in the market's symbols")
        if beta is None:
            tr = train.select(list(pair))
            beta = ols_hedge(np.log(tr["close"][:, 0]), np.log(tr["close"][:, 1]))[0]
        if not np.isfinite(beta):
            raise ConfigError(f"beta must be a finite number, got {beta!r}")
        self.pair = (str(pair[0]), str(pair[1]))
        self.beta = float(beta)
        return panel.select(list(self.pair))

    def _history(self) -> int:
        return self.window + self.n_lags

    def _build(self, seg: Panel) -> None:
        close = np.ascontiguousarray(seg["close"], dtype=np.float64)
        if not np.isfinite(close).all():
            raise ConfigError(f"pair {self.pair} has missing closes in the {self.split} split")
        self.n_assets = 2
        no_features = np.zeros((0, seg.n_dates, 2), dtype=np.float32)
        self._market = Market(
            exec_prices(seg, self.costs.execution),
            close,
            no_features,
            no_features,
            np.zeros((1, 1)),
        )
        self._kernel_obs_dim = 3  # the kernel writes the weights only
        self.spread = np.log(close[:, 0]) - self.beta * np.log(close[:, 1])
        self.zscore = np.clip(rolling_zscore(self.spread, self.window), -10.0, 10.0)
        self._unit = spread_weights(self.beta)
        self._targets = np.ascontiguousarray([-self._unit, 0.0 * self._unit, self._unit])
        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(-10.0, 10.0, (self.n_lags + 3,), np.float32)

    def _write_params(self, params: np.ndarray) -> None:
        p = params[0]
        p["mode"] = MODE_WEIGHTS
        p["window"] = 1

    def _kernel_action(self, action: Any) -> np.ndarray:
        return self._targets[discrete_action(3, action)]

    def _observation(self) -> np.ndarray:
        t = self.t
        obs = np.zeros(self.n_lags + 3, dtype=np.float32)
        obs[: self.n_lags] = self.zscore[t - self.n_lags + 1 : t + 1]
        obs[self.n_lags + 1 + self.position] = 1.0
        return obs

    def _on_reset(self, start: int, info: dict[str, Any]) -> None:
        info["position"] = 0

    def _add_info(self, info: dict[str, Any]) -> None:
        info["position"] = self.position

    # ------------------------------------------------------------------ helpers
    @property
    def position(self) -> int:
        """Spread position held: -1 short, 0 flat, 1 long."""
        return int(np.sign(self._state.book[0, TGT, 0]))

    def target_weights(self, action: int) -> np.ndarray:
        """Target weights in (a, b) of an action (0 short, 1 flat, 2 long the spread)."""
        return self._targets[discrete_action(3, action)].copy()


__all__ = [
    "PairsTradingEnv",
    "ols_hedge",
    "rank_pairs",
    "rolling_zscore",
    "spread_weights",
]
