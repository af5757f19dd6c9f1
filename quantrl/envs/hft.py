"""``quantrl/HFT-v0``: trade one asset on minute bars with discrete target positions.

Action: ``Discrete(n_levels)``; level k targets the position weight
``-max_position + 2 max_position k / (n_levels - 1)`` (or ``max_position k / (n_levels - 1)``
with ``long_only=True``) of equity; the default 11 levels go from -1 (short) to +1 (long) in
steps of 0.2. The order decided at the close of minute t fills at minute t + 1 (its open by
default), through the backtester's account kernel.

Costs: ``commission`` (fraction of notional), ``slippage`` and a market impact added to the
slippage of each order. With ``dq`` the traded units, ``V`` the mean volume in units of the
asset over the last ``impact_window`` bars up to t (quote-currency volume is divided by the
close) and participation ``rho = dq / V``:

* ``impact="linear"``: ``impact = impact_coef * rho`` (``impact_coef`` = price concession at a
  participation of 1, default 1e-3 when not given);
* ``impact="sqrt"`` (default): ``impact = impact_coef * sigma * sqrt(rho)``, the square-root law,
  with ``sigma`` the std of 1-minute log returns over the same bars (``impact_coef`` = Y,
  default 1.0);
* ``impact="none"``.

The fill price is ``p (1 + slippage + impact)`` for buys and ``p (1 - slippage - impact)`` for
sells; the impact is capped at ``max_impact`` (default 0.05, at most ``0.99 - slippage``); a
window without volume gives the cap.

Observation (float32): ``window`` 1-minute log returns, then ``window`` signed volumes
``sign(r) v / V``; point features: volatility, log volume ratio ``log(v / V)``, close-location
value ``((c - l) - (h - c)) / (h - l)``, bar range ``log(h / l)``; then the position weight, the
cash weight and the fraction of the episode left.

Regimes (MacroHFT-style): the split is cut into consecutive chunks of ``episode_length`` bars;
each chunk's trend is the slope of a least-squares line through its log closes and its
volatility the std of its log returns; the terciles over all chunks label trend ``down`` /
``flat`` / ``up`` and volatility ``low`` / ``medium`` / ``high``. The labels describe the whole
episode window (a hindsight label for training regime sub-agents, never part of the
observation); ``info["regime"]`` carries them and ``regime=`` restricts episodes to matching
chunks (``"up"``, ``"high"``, ``("up", "high")``, ...).

Settings come as records or as flat keywords (``quantrl.envs.config``):
``costs=Costs(...)`` or ``commission`` (the fee rate), ``fixed_fees``, ``slippage``,
``init_cash``, ``execution``; ``actions=LevelConfig(...)`` or ``n_levels``, ``max_position``,
``long_only``; ``impact=ImpactConfig(...)`` or ``impact`` (the model name), ``impact_coef``,
``impact_window``, ``max_impact``, ``volume_unit``; ``observation=ObservationConfig(...)`` or
``window``, ``vol_window``; ``reward=RewardConfig(...)`` or ``reward``, ``reward_eta``,
``reward_lambda``, ``reward_window``. An action must be an integer level (a numpy integer, or a
one-element array of an integral value); anything else, 1e20 included, raises a ``ConfigError``.
``info`` adds ``impact`` (the impact cost paid this step) and ``regime``.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import numpy as np
from gymnasium import spaces

from quantrl.data.panel import Panel
from quantrl.envs.base import TradingEnv, discrete_action
from quantrl.envs.config import (
    IMPACTS,
    Costs,
    ImpactConfig,
    LevelConfig,
    ObservationConfig,
    slot,
)
from quantrl.envs.core import exec_prices, fraction_split_dates
from quantrl.envs.features import clean, close_location, log_returns, rolling_mean, rolling_std
from quantrl.envs.rewards import RewardConfig
from quantrl.errors import ConfigError
from quantrl.kernels.env_state import POS, Market
from quantrl.kernels.hft import hft_step_nb

TRENDS = ("down", "flat", "up")
VOLATILITIES = ("low", "medium", "high")
QUOTE_VOLUME_MARKETS = {"crypto_minute"}
"""Bundled minute markets whose volume is in quote currency (divided by the close)."""


def chunk_stats(log_close: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """(K, 2) slope of the least-squares line through log closes, and log-return std, per chunk."""
    x = np.arange(length + 1, dtype=np.float64)
    x -= x.mean()
    out = np.empty((starts.size, 2))
    for k, s in enumerate(starts):
        y = log_close[s : s + length + 1]
        out[k, 0] = float(np.dot(x, y - y.mean()) / np.dot(x, x))
        out[k, 1] = float(np.std(np.diff(y), ddof=1))
    return out


class HFTEnv(TradingEnv):
    """Single-asset minute-bar trading with discrete target positions (``HFT-v0``)."""

    info_extra = "impact"

    CONFIG = {
        "costs": slot(
            Costs(fees=0.0002),
            {
                "commission": "fees",
                "fixed_fees": "fixed_fees",
                "slippage": "slippage",
                "init_cash": "init_cash",
                "execution": "execution",
            },
        ),
        "reward": slot(RewardConfig(window=30)),
        "observation": slot(ObservationConfig(window=30, vol_window=30), ("window", "vol_window")),
        "actions": slot(LevelConfig()),
        "impact": slot(ImpactConfig()),
    }

    def __init__(
        self,
        market: str | Panel = "crypto_minute",
        *,
        symbol: str | None = None,
        regime: str | tuple[str, str] | None = None,
        episode_length: int = 240,
        **kwargs: Any,
    ) -> None:
        self.symbol = symbol
        self.regime = regime
        self._regime: dict[str, str] = {}
        super().__init__(market, episode_length=episode_length, **kwargs)

    # ------------------------------------------------------------------ TradingEnv hooks
    def _configure(self) -> None:
        obs: ObservationConfig = self.config["observation"]
        if obs.technicals or obs.factors:
            raise ConfigError("HFT-v0 takes no technicals or factors in its observation")
        self.observation_config = obs
        self.level_config: LevelConfig = self.config["actions"]
        self.impact_config: ImpactConfig = self.config["impact"]
        slip = self.costs.slippage
        if self.impact_config.max_impact > 0.99 - slip:
            raise ConfigError(
                f"max_impact must be in [0, 0.99 - slippage], got "
                f"{self.impact_config.max_impact} (slippage {slip})"
            )
        lev = max(self.level_config.max_position, 1.0)  # the gross weight of the top level
        self.costs = self.config["costs"] = dataclasses.replace(self.costs, max_leverage=lev)
        self.window = obs.window
        self.n_levels = self.level_config.n_levels
        self.levels = self.level_config.levels()
        # the validation of a level, as the instance's action hook (one call per step, no frame)
        self._kernel_action = partial(discrete_action, self.n_levels)
        self.impact = self.impact_config.model

    def _select(self, panel: Panel, split_dates: tuple[Any, Any] | None) -> Panel:
        if self.symbol is None:
            self.symbol = panel.symbols[0]
        selected = panel.select([self.symbol])
        unit = self.impact_config.volume_unit
        if unit is None:
            unit = "quote" if selected.name in QUOTE_VOLUME_MARKETS else "base"
        self.volume_unit = unit
        return selected

    def _default_split_dates(self, panel: Panel) -> tuple[Any, Any] | None:
        return fraction_split_dates(panel)

    def _history(self) -> int:
        obs = self.observation_config
        return obs.window + max(obs.vol_window, self.impact_config.window) + 1

    def _build(self, seg: Panel) -> None:
        impact_window = self.impact_config.window
        self.n_assets = 1
        close = np.ascontiguousarray(seg["close"], dtype=np.float64)
        volume = np.asarray(seg["volume"], dtype=np.float64)
        if self.volume_unit == "quote":
            volume = volume / close
        lr = log_returns(close)
        mean_vol = rolling_mean(volume, impact_window)[:, 0]
        sigma = np.nan_to_num(rolling_std(lr, impact_window)[:, 0], nan=0.0)
        vbar = rolling_mean(volume, impact_window)
        with np.errstate(divide="ignore", invalid="ignore"):
            signed = np.sign(np.nan_to_num(lr)) * np.where(vbar > 0, volume / vbar, 0.0)
            vol_ratio = np.where((vbar > 0) & (volume > 0), np.log(volume / vbar), 0.0)
            hl = np.log(seg["high"] / seg["low"])
        vol_window = self.observation_config.vol_window
        self._market = Market(
            exec_prices(seg, self.costs.execution),
            close,
            clean(np.stack([lr, signed])),
            clean(np.stack([rolling_std(lr, vol_window), vol_ratio, close_location(seg), hl])),
            np.ascontiguousarray(np.stack([np.where(mean_vol > 0, mean_vol, 0.0), sigma])),
        )
        self.window_feature_names = ("log_return", "signed_volume")
        self.point_feature_names = ("volatility", "log_volume_ratio", "clv", "hl_range")
        self._setup_regimes(np.log(close[:, 0]), self.regime)
        self.obs_dim = 2 * self.window + 4 + 3
        self._kernel_obs_dim = self.obs_dim
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        self.action_space = spaces.Discrete(self.n_levels)

    def _write_params(self, params: np.ndarray) -> None:
        p = params[0]
        p["window"] = self.window
        p["impact"] = IMPACTS[self.impact]
        p["impact_coef"] = self.impact_config.effective_coef
        p["max_impact"] = self.impact_config.max_impact

    def _kernel(self) -> tuple[Any, Any, tuple[Any, ...]]:
        return hft_step_nb, 0, (self.levels, self._params, self._market, self._state.buffers)

    def _on_reset(self, start: int, info: dict[str, Any]) -> None:
        self._state.obs[0, -1] = 1.0
        self._regime = self.regime_of(start)
        info["regime"] = dict(self._regime)

    def _add_info(self, info: dict[str, Any]) -> None:
        info["regime"] = dict(self._regime)

    # ------------------------------------------------------------------ regimes
    def _setup_regimes(self, log_close: np.ndarray, regime: str | tuple[str, str] | None) -> None:
        length = self.episode_length
        starts = np.arange(self.first_row, self.last_row - length + 1, length)
        stats = chunk_stats(log_close, starts, length)
        self._trend_cuts = np.quantile(stats[:, 0], [1 / 3, 2 / 3])
        self._vol_cuts = np.quantile(stats[:, 1], [1 / 3, 2 / 3])
        self.chunk_starts = starts
        self.chunk_trend = np.searchsorted(self._trend_cuts, stats[:, 0], "right")
        self.chunk_vol = np.searchsorted(self._vol_cuts, stats[:, 1], "right")
        self._log_close = log_close
        wanted = () if regime is None else (regime,) if isinstance(regime, str) else tuple(regime)
        mask = np.ones(starts.size, dtype=bool)
        for label in wanted:
            if label in TRENDS:
                mask &= self.chunk_trend == TRENDS.index(label)
            elif label in VOLATILITIES:
                mask &= self.chunk_vol == VOLATILITIES.index(label)
            else:
                raise ConfigError(
                    f"unknown regime {label!r}; trends: {', '.join(TRENDS)}; "
                    f"volatilities: {', '.join(VOLATILITIES)}"
                )
        if not mask.any():
            raise ConfigError(f"no episode window of the {self.split} split is in regime {regime}")
        self._starts = starts[mask] if wanted else None

    def regime_of(self, start: int) -> dict[str, str]:
        """Trend and volatility labels of the episode window starting at row ``start``."""
        stats = chunk_stats(self._log_close, np.array([start]), self.episode_length)[0]
        trend = int(np.searchsorted(self._trend_cuts, stats[0], "right"))
        vol = int(np.searchsorted(self._vol_cuts, stats[1], "right"))
        return {"trend": TRENDS[trend], "volatility": VOLATILITIES[vol]}

    @property
    def position(self) -> float:
        """Units of the asset held."""
        return float(self._state.book[0, POS, 0])


__all__ = ["IMPACTS", "HFTEnv", "chunk_stats"]
