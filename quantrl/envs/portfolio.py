"""``quantrl/Portfolio-v0``: allocate wealth across N assets and cash, one rebalance per bar.

Observation (float32, flat, length ``window * N + Fp * N + N + 1``), at the close of row t:

1. ``window * N`` log returns ``log(c_s / c_{s-1})`` of rows ``s = t - window + 1 .. t``
   (time-major: the N returns of the oldest row first);
2. ``Fp * N`` point features at row t, feature-major: volatility (std of the last
   ``vol_window`` log returns), then the ``technicals`` named, then the ``factors`` (alpha
   expressions, cross-sectionally z-scored);
3. the current weights: N asset values over equity, then cash over equity.

Missing values are 0. Action (``action_mode``):

* ``"softmax"`` (default): Box [-1, 1]^(N+1) scores (assets then cash);
  ``w = softmax(temperature * a)``: long-only weights summing to 1 with cash;
* ``"long_short"``: Box [-1, 1]^N, clipped and scaled so the gross weight ``sum |w|`` is at most
  ``max_leverage``; the rest stays in cash;
* ``"weights"``: Box [-L, L]^N target weights used as they are (scaled down to gross
  ``max_leverage`` if above it). With it a fixed-weights policy reproduces
  ``quantrl.backtest.run_weights(segment, weights, lag=1)`` exactly.

Any finite action is valid (values outside the Box saturate the softmax, are clipped in
``"long_short"`` and scaled down in ``"weights"``); NaN or inf, a wrong shape, or weights so large
that their gross sum overflows raise a ``ConfigError`` and leave the episode as it was.

The order decided at row t fills at row t + 1 (open or close, ``execution``), costs are charged on
the traded notional, and the reward (``quantrl.envs.rewards``) is measured to the close of row
t + 1. An episode starts all in cash at a random row of the split (``sampling="random"``, the
default for ``"train"`` and ``"all"``) or at consecutive, non-overlapping rows
(``"sequential"``, the default for ``"valid"`` / ``"test"``), and is truncated after
``episode_length`` steps (``None``: the whole split); it terminates if equity reaches 0.

Constructor: ``market`` is a bundled name (``"dow30"``, ``"sp500"``) or a ``Panel``,
``symbols`` a subset of its symbols; ``split``, ``split_dates``, ``episode_length``,
``sampling`` and ``seed`` as in ``quantrl.envs.base.TradingEnv`` (default split dates:
``quantrl.data.splits.DEFAULT_SPLITS``, dow30 2019-01-01 / 2021-01-01, sp500 2016-07-01 /
2017-01-01). Settings come as records or as flat keywords (``quantrl.envs.config``):

* ``costs=Costs(...)`` or ``fees``, ``fixed_fees``, ``slippage``, ``init_cash``, ``execution``,
  ``rebalance_threshold``, ``max_leverage`` (meaning what they mean in ``run_weights``);
* ``reward=RewardConfig(...)`` or ``reward`` (a name), ``reward_eta``, ``reward_lambda``,
  ``reward_window``;
* ``observation=ObservationConfig(...)`` or ``window``, ``vol_window``, ``technicals``,
  ``factors``;
* ``actions=ActionConfig(...)`` or ``action_mode``, ``temperature``.

``info`` holds ``equity``, ``fees`` (paid this step), ``log_return``, ``turnover`` (traded
notional over the previous equity) and ``t`` (the row now observed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from quantrl.data.panel import Panel
from quantrl.envs.base import TradingEnv
from quantrl.envs.config import ACTION_MODES, ActionConfig, Costs, ObservationConfig, slot
from quantrl.envs.core import exec_prices
from quantrl.envs.features import factor_lookback, portfolio_features
from quantrl.envs.rewards import RewardConfig
from quantrl.errors import ConfigError
from quantrl.kernels.env_state import Market


class PortfolioEnv(TradingEnv):
    """Portfolio allocation over the assets of a market panel plus cash (``Portfolio-v0``)."""

    CONFIG = {
        "costs": slot(Costs()),
        "reward": slot(RewardConfig()),
        "observation": slot(ObservationConfig()),
        "actions": slot(ActionConfig()),
    }

    def __init__(
        self,
        market: str | Panel = "dow30",
        *,
        symbols: Sequence[str] | None = None,
        episode_length: int | None = 252,
        **kwargs: Any,
    ) -> None:
        self._symbols = None if symbols is None else list(symbols)
        super().__init__(market, episode_length=episode_length, **kwargs)

    # ------------------------------------------------------------------ TradingEnv hooks
    def _configure(self) -> None:
        obs: ObservationConfig = self.config["observation"]
        self.observation_config = obs
        self.action_config: ActionConfig = self.config["actions"]
        self.window = obs.window
        self.action_mode = self.action_config.mode

    def _select(self, panel: Panel, split_dates: tuple[Any, Any] | None) -> Panel:
        return panel if self._symbols is None else panel.select(self._symbols)

    def _history(self) -> int:
        obs = self.observation_config
        technicals = 21 if obs.technicals else 0
        return obs.window + max(obs.vol_window, technicals, factor_lookback(obs.factors)) + 1

    def _build(self, seg: Panel) -> None:
        obs = self.observation_config
        self.symbols = seg.symbols
        self.n_assets = n = seg.n_symbols
        winfeat, ptfeat, wnames, pnames = portfolio_features(
            seg, vol_window=obs.vol_window, technicals=obs.technicals, factors=obs.factors
        )
        extra, extra_names = self._extra_point_features(seg)
        if extra is not None:
            ptfeat = np.ascontiguousarray(np.concatenate([ptfeat, extra]), dtype=np.float32)
            pnames = pnames + extra_names
        self.window_feature_names = wnames
        self.point_feature_names = pnames
        self._market = Market(
            exec_prices(seg, self.costs.execution),
            np.ascontiguousarray(seg["close"], dtype=np.float64),
            winfeat,
            ptfeat,
            self._quality_array(seg),
        )
        self.obs_dim = len(wnames) * self.window * n + ptfeat.shape[0] * n + n + 1
        self._kernel_obs_dim = self.obs_dim
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        lev = float(self.costs.max_leverage)
        if self.action_mode == "softmax":
            self.action_space = spaces.Box(-1.0, 1.0, (n + 1,), np.float32)
        elif self.action_mode == "long_short":
            self.action_space = spaces.Box(-1.0, 1.0, (n,), np.float32)
        else:
            self.action_space = spaces.Box(-lev, lev, (n,), np.float32)
        self._action_shape = self.action_space.shape

    def _write_params(self, params: np.ndarray) -> None:
        p = params[0]
        p["mode"] = ACTION_MODES[self.action_mode]
        p["temperature"] = self.action_config.temperature
        p["window"] = self.window
        p["esg"] = 0

    def _kernel_action(self, action: Any) -> np.ndarray:
        try:
            a = np.ascontiguousarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(f"action must be an array of numbers, got {action!r}") from None
        if a.shape != self._action_shape:
            if a.size == int(np.prod(self._action_shape)) and a.ndim == 2 and a.shape[0] == 1:
                return np.ascontiguousarray(a.reshape(self._action_shape))
            raise ConfigError(
                f"action has shape {a.shape}, expected {self._action_shape} "
                f"(action_mode={self.action_mode!r}, {self.n_assets} assets)"
            )
        return a

    # ------------------------------------------------------------------ subclass hooks
    def _extra_point_features(self, seg: Panel) -> tuple[np.ndarray | None, tuple[str, ...]]:
        """Hook: extra point features (F, T, N) float32 and their names."""
        return None, ()

    def _quality_array(self, seg: Panel) -> np.ndarray:
        """Hook: per-row ESG quality (T, N) used by the regulated market (unused here)."""
        return np.zeros((1, 1))

    # ------------------------------------------------------------------ helpers
    def weights_to_action(self, weights: np.ndarray) -> np.ndarray:
        """An action that maps to ``weights`` (N risky weights; cash is the rest)."""
        w = np.asarray(weights, dtype=np.float64)
        if self.action_mode == "softmax":
            cash = 1.0 - w.sum()
            full = np.append(w, cash)
            if (full <= 0).any():
                raise ConfigError("softmax actions need strictly positive weights and cash")
            a = np.log(full) / self.action_config.temperature
            return a - a.max()
        return w.copy()


__all__ = ["ACTION_MODES", "PortfolioEnv"]
