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
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from quantrl.data.panel import Panel
from quantrl.envs.core import (
    Costs,
    EnvState,
    Execution,
    check_positive_int,
    exec_prices,
    fast_entry,
    fraction_split_dates,
    param_vectors,
    resolve_panel,
    split_panel,
)
from quantrl.envs.features import clean, close_location, log_returns, rolling_mean, rolling_std
from quantrl.envs.rewards import make_reward
from quantrl.errors import ConfigError
from quantrl.kernels.envs import (
    DONE,
    I_IMPACT,
    I_REWARD,
    I_WINDOW,
    OK,
    P_ETA,
    P_IMPACT,
    P_LAMBDA,
    P_MAX_IMPACT,
    S_T,
    reset_env_nb,
)
from quantrl.kernels.hft import IMPACT_LINEAR, IMPACT_NONE, IMPACT_SQRT, hft_step_nb

IMPACTS = {"none": IMPACT_NONE, "linear": IMPACT_LINEAR, "sqrt": IMPACT_SQRT}
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


class HFTEnv(gym.Env):
    """Single-asset minute-bar trading with discrete target positions (``HFT-v0``)."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        market: str | Panel = "crypto_minute",
        *,
        symbol: str | None = None,
        split: str = "train",
        split_dates: tuple[Any, Any] | None = None,
        window: int = 30,
        episode_length: int = 240,
        n_levels: int = 11,
        max_position: float = 1.0,
        long_only: bool = False,
        commission: float = 0.0002,
        slippage: float = 0.0,
        impact: str = "sqrt",
        impact_coef: float | None = None,
        impact_window: int = 60,
        max_impact: float = 0.05,
        volume_unit: str | None = None,
        init_cash: float = 1e6,
        execution: Execution = "next_open",
        reward: str = "log_return",
        reward_eta: float = 0.01,
        reward_lambda: float = 1.0,
        reward_window: int = 30,
        vol_window: int = 30,
        regime: str | tuple[str, str] | None = None,
        sampling: str | None = None,
        seed: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        if render_mode is not None:
            raise ConfigError(f"render_mode {render_mode!r} is not supported (none available)")
        self.window = check_positive_int("window", window)
        vol_window = check_positive_int("vol_window", vol_window, 2)
        impact_window = check_positive_int("impact_window", impact_window, 2)
        self.n_levels = check_positive_int("n_levels", n_levels, 2)
        if not np.isfinite(max_position) or max_position <= 0:
            raise ConfigError(f"max_position must be a finite number > 0, got {max_position}")
        if impact not in IMPACTS:
            raise ConfigError(f"unknown impact model {impact!r}; choose from {', '.join(IMPACTS)}")
        if impact_coef is None:
            impact_coef = 1e-3 if impact == "linear" else 1.0
        if not np.isfinite(impact_coef) or impact_coef < 0:
            raise ConfigError(f"impact_coef must be a finite number >= 0, got {impact_coef}")
        if not np.isfinite(max_impact) or not 0 <= max_impact <= 0.99 - slippage:
            raise ConfigError(
                f"max_impact must be in [0, 0.99 - slippage], got {max_impact} (slippage {slippage})"
            )
        self.costs = Costs(
            fees=commission,
            slippage=slippage,
            init_cash=init_cash,
            execution=execution,
            max_leverage=max(float(max_position), 1.0),
        )
        self.reward_spec = make_reward(
            reward, eta=reward_eta, lam=reward_lambda, window=reward_window
        )
        panel = resolve_panel(market)
        if symbol is None:
            symbol = panel.symbols[0]
        panel = panel.select([symbol])
        if volume_unit is None:
            volume_unit = "quote" if panel.name in QUOTE_VOLUME_MARKETS else "base"
        if volume_unit not in ("base", "quote"):
            raise ConfigError(f"volume_unit must be 'base' or 'quote', got {volume_unit!r}")
        history = self.window + max(vol_window, impact_window) + 1
        if split != "all" and split_dates is None:
            split_dates = fraction_split_dates(panel)
        seg = split_panel(panel, split, split_dates, history)
        self.panel = seg
        self.symbol = symbol
        self.split = split
        close = np.ascontiguousarray(seg["close"], dtype=np.float64)
        self._close = close
        self._exec = exec_prices(seg, self.costs.execution)
        volume = np.asarray(seg["volume"], dtype=np.float64)
        if volume_unit == "quote":
            volume = volume / close
        lr = log_returns(close)
        mean_vol = rolling_mean(volume, impact_window)[:, 0]
        self._mean_volume = np.ascontiguousarray(np.where(mean_vol > 0, mean_vol, 0.0))
        self._sigma = np.ascontiguousarray(
            np.nan_to_num(rolling_std(lr, impact_window)[:, 0], nan=0.0)
        )
        vbar = rolling_mean(volume, impact_window)
        with np.errstate(divide="ignore", invalid="ignore"):
            signed = np.sign(np.nan_to_num(lr)) * np.where(vbar > 0, volume / vbar, 0.0)
            vol_ratio = np.where((vbar > 0) & (volume > 0), np.log(volume / vbar), 0.0)
            hl = np.log(seg["high"] / seg["low"])
        self._winfeat = clean(np.stack([lr, signed]))
        self._ptfeat = clean(
            np.stack([rolling_std(lr, vol_window), vol_ratio, close_location(seg), hl])
        )
        self.window_feature_names = ("log_return", "signed_volume")
        self.point_feature_names = ("volatility", "log_volume_ratio", "clv", "hl_range")
        self.first_row = max(seg.warmup, history)
        self.last_row = seg.n_dates - 1
        span = self.last_row - self.first_row
        self.episode_length = check_positive_int("episode_length", episode_length)
        if self.episode_length > span:
            raise ConfigError(
                f"episode_length={episode_length} is longer than the {split} split allows "
                f"({max(span, 0)} steps)"
            )
        self._setup_regimes(np.log(close[:, 0]), regime)
        if sampling is None:
            sampling = "sequential" if split in ("valid", "test") else "random"
        if sampling not in ("random", "sequential"):
            raise ConfigError(f"sampling must be 'random' or 'sequential', got {sampling!r}")
        self.sampling = sampling
        if long_only:
            self.levels = max_position * np.arange(n_levels) / (n_levels - 1)
        else:
            self.levels = max_position * (2.0 * np.arange(n_levels) / (n_levels - 1) - 1.0)
        self.obs_dim = 2 * self.window + 4 + 3
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        self.action_space = spaces.Discrete(self.n_levels)
        self._fp, self._ip = param_vectors()
        self.costs.fill(self._fp)
        self._fp[P_ETA] = self.reward_spec.eta
        self._fp[P_LAMBDA] = self.reward_spec.lam
        self._fp[P_IMPACT] = impact_coef
        self._fp[P_MAX_IMPACT] = max_impact
        self._ip[I_REWARD] = self.reward_spec.code
        self._ip[I_WINDOW] = self.window
        self._ip[I_IMPACT] = IMPACTS[impact]
        self.impact = impact
        self._state = EnvState(1, 1, self.obs_dim, self.reward_spec.window)
        s = self._state
        self._args = (
            self.levels,
            self._fp,
            self._ip,
            self._exec,
            self._close,
            self._mean_volume,
            self._sigma,
            self._winfeat,
            self._ptfeat,
            s.account,
            s.book,
            s.scal,
            s.ring,
            s.trades,
            s.obs,
            s.out,
        )
        self._out_row = s.out[0]
        self._obs_row = s.obs[0]
        self._step_fn = fast_entry(hft_step_nb, 0, *self._args)
        self._next_episode = 0
        self._regime: dict[str, str] = {}
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)

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
        self.regime = regime
        self._regime_starts = starts[mask] if wanted else None

    def regime_of(self, start: int) -> dict[str, str]:
        """Trend and volatility labels of the episode window starting at row ``start``."""
        stats = chunk_stats(self._log_close, np.array([start]), self.episode_length)[0]
        trend = int(np.searchsorted(self._trend_cuts, stats[0], "right"))
        vol = int(np.searchsorted(self._vol_cuts, stats[1], "right"))
        return {"trend": TRENDS[trend], "volatility": VOLATILITIES[vol]}

    def _start_row(self, options: dict[str, Any] | None) -> int:
        hi = self.last_row - self.episode_length
        if options and options.get("start") is not None:
            row = int(options["start"])
            if not self.first_row <= row <= hi:
                raise ConfigError(f"start row {row} outside [{self.first_row}, {hi}]")
            return row
        if self._regime_starts is not None:
            if self.sampling == "random":
                return int(self.np_random.choice(self._regime_starts))
            row = int(self._regime_starts[self._next_episode % self._regime_starts.size])
            self._next_episode += 1
            return row
        if self.sampling == "random":
            return int(self.np_random.integers(self.first_row, hi + 1))
        row = int(self.chunk_starts[self._next_episode % self.chunk_starts.size])
        self._next_episode += 1
        return row

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode flat (all cash); ``options={"start": row}`` fixes its first row."""
        super().reset(seed=seed)
        if seed is not None:
            self._next_episode = 0
        start = self._start_row(options)
        s = self._state
        reset_env_nb(
            0,
            start,
            start + self.episode_length,
            self._fp,
            self._ip,
            self._close,
            self._winfeat,
            self._ptfeat,
            s.account,
            s.book,
            s.scal,
            s.ring,
            s.obs,
        )
        s.obs[0, -1] = 1.0
        self._regime = self.regime_of(start)
        info = {"equity": float(self.costs.init_cash), "t": start, "regime": dict(self._regime)}
        return s.obs[0].copy(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move to the target position of level ``action`` at the next bar (gymnasium 5-tuple)."""
        level = self._level(action)
        status = self._step_fn(level, *self._args)
        if status != OK:
            if status == DONE:
                raise ConfigError("the episode is over (or was never started): call reset()")
            raise ConfigError(f"action {action!r} is not a level in [0, {self.n_levels - 1}]")
        reward, equity, fees, log_ret, turnover, done, row, impact = self._out_row.tolist()
        info = {
            "equity": equity,
            "fees": fees,
            "impact": impact,
            "log_return": log_ret,
            "turnover": turnover,
            "t": int(row),
            "regime": dict(self._regime),
        }
        return self._obs_row.copy(), reward, done == 1.0, done == 2.0, info

    def _level(self, action: Any) -> int:
        if isinstance(action, int | np.integer) and not isinstance(action, bool):
            return int(action)
        a = np.asarray(action)
        if a.size != 1 or a.dtype.kind not in "iuf":
            raise ConfigError(
                f"action must be one integer level in [0, {self.n_levels - 1}], got {action!r}"
            )
        value = a.reshape(()).item()
        if not np.isfinite(value) or value != int(value):
            raise ConfigError(f"action must be an integer level, got {action!r}")
        return int(value)

    @property
    def t(self) -> int:
        """Current row of the split panel."""
        return int(self._state.scal[0, S_T])

    @property
    def position(self) -> float:
        """Units of the asset held."""
        return float(self._state.book[0, 0, 0])


__all__ = ["HFTEnv"]
