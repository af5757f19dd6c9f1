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

The order decided at row t fills at row t + 1 (open or close, ``execution``), costs are charged on
the traded notional, and the reward (``quantrl.envs.rewards``) is measured to the close of row
t + 1. An episode starts all in cash at a random row of the split (``sampling="random"``, the
default for ``"train"`` and ``"all"``) or at consecutive, non-overlapping rows
(``"sequential"``, the default for ``"valid"`` / ``"test"``), and is truncated after
``episode_length`` steps (``None``: the whole split); it terminates if equity reaches 0.

Constructor: ``market`` is a bundled name (``"dow30"``, ``"sp500"``) or a ``Panel``; ``split``
one of ``"train"``, ``"valid"``, ``"test"``, ``"all"`` with ``split_dates=(valid_start,
test_start)`` (default: ``quantrl.data.splits.DEFAULT_SPLITS``, dow30 2019-01-01 / 2021-01-01,
sp500 2016-07-01 / 2017-01-01); valid and test splits carry the history rows the features need,
never rows after their end. ``fees`` / ``fixed_fees`` / ``slippage`` / ``init_cash`` /
``execution`` / ``rebalance_threshold`` mean what they mean in ``run_weights``. ``info`` holds
``equity``, ``fees`` (paid this step), ``log_return``, ``turnover`` (traded notional over the
previous equity) and ``t`` (the row now observed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from quantrl.data.panel import Panel, to_datetime64
from quantrl.envs.core import (
    DEFAULT_SPLITS,
    Costs,
    EnvState,
    Execution,
    check_positive_int,
    exec_prices,
    fast_entry,
    param_vectors,
    resolve_panel,
    split_panel,
)
from quantrl.envs.features import factor_lookback, portfolio_features
from quantrl.envs.rewards import make_reward
from quantrl.errors import ConfigError
from quantrl.kernels.envs import (
    BAD_ACTION,
    DONE,
    I_ESG,
    I_MODE,
    I_REWARD,
    I_WINDOW,
    MODE_LONG_SHORT,
    MODE_SOFTMAX,
    MODE_WEIGHTS,
    OK,
    P_ETA,
    P_LAMBDA,
    P_TEMP,
    S_T,
    reset_env_nb,
    step_one_nb,
)

ACTION_MODES = {"softmax": MODE_SOFTMAX, "long_short": MODE_LONG_SHORT, "weights": MODE_WEIGHTS}


class PortfolioEnv(gym.Env):
    """Portfolio allocation over the assets of a market panel plus cash (``Portfolio-v0``)."""

    metadata = {"render_modes": []}
    default_splits: dict[str, tuple[str, str]] | None = None

    def __init__(
        self,
        market: str | Panel = "dow30",
        *,
        split: str = "train",
        split_dates: tuple[Any, Any] | None = None,
        symbols: Sequence[str] | None = None,
        window: int = 20,
        episode_length: int | None = 252,
        fees: float = 0.001,
        fixed_fees: float = 0.0,
        slippage: float = 0.0,
        init_cash: float = 1e6,
        execution: Execution = "next_open",
        rebalance_threshold: float = 0.0,
        action_mode: str = "softmax",
        temperature: float = 5.0,
        max_leverage: float = 1.0,
        reward: str = "log_return",
        reward_eta: float = 0.01,
        reward_lambda: float = 1.0,
        reward_window: int = 20,
        vol_window: int = 20,
        technicals: Sequence[str] = (),
        factors: Sequence[str] = (),
        sampling: str | None = None,
        seed: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        if render_mode is not None:
            raise ConfigError(f"render_mode {render_mode!r} is not supported (none available)")
        self.window = check_positive_int("window", window)
        vol_window = check_positive_int("vol_window", vol_window, 2)
        if action_mode not in ACTION_MODES:
            raise ConfigError(
                f"unknown action_mode {action_mode!r}; choose from {', '.join(ACTION_MODES)}"
            )
        if not np.isfinite(temperature) or temperature <= 0:
            raise ConfigError(f"temperature must be a finite number > 0, got {temperature}")
        self.action_mode = action_mode
        self.costs = Costs(
            fees=fees,
            fixed_fees=fixed_fees,
            slippage=slippage,
            init_cash=init_cash,
            execution=execution,
            rebalance_threshold=rebalance_threshold,
            max_leverage=max_leverage,
        )
        self.reward_spec = make_reward(
            reward, eta=reward_eta, lam=reward_lambda, window=reward_window
        )
        lookback = max(vol_window, 21 if technicals else 0, factor_lookback(tuple(factors)))
        history = self.window + lookback + 1
        panel = resolve_panel(market)
        if symbols is not None:
            panel = panel.select(list(symbols))
        self.split = split
        seg = split_panel(panel, split, split_dates, history, self.default_splits or DEFAULT_SPLITS)
        seg = self._prepare_panel(seg)
        self.panel = seg
        self.symbols = seg.symbols
        self.n_assets = seg.n_symbols
        self._close = np.ascontiguousarray(seg["close"], dtype=np.float64)
        self._exec = exec_prices(seg, self.costs.execution)
        winfeat, ptfeat, wnames, pnames = portfolio_features(
            seg, vol_window=vol_window, technicals=tuple(technicals), factors=tuple(factors)
        )
        extra, extra_names = self._extra_point_features(seg)
        if extra is not None:
            ptfeat = np.ascontiguousarray(np.concatenate([ptfeat, extra]), dtype=np.float32)
            pnames = pnames + extra_names
        self.window_feature_names = wnames
        self.point_feature_names = pnames
        self._winfeat = winfeat
        self._ptfeat = ptfeat
        self._quality = self._quality_array(seg)
        self.first_row = max(seg.warmup, history, self._first_allowed_row(seg))
        self.last_row = seg.n_dates - 1
        span = self.last_row - self.first_row
        if span < 1:
            raise ConfigError(
                f"the {split} split has {seg.n_dates} rows, too few for window={self.window} "
                f"and vol_window={vol_window} (needs more than {self.first_row + 1})"
            )
        if episode_length is None:
            self.episode_length = span
        else:
            self.episode_length = check_positive_int("episode_length", episode_length)
            if self.episode_length > span:
                raise ConfigError(
                    f"episode_length={episode_length} is longer than the {split} split allows "
                    f"({span} steps from row {self.first_row} to {self.last_row})"
                )
        if sampling is None:
            sampling = "sequential" if split in ("valid", "test") else "random"
        if sampling not in ("random", "sequential"):
            raise ConfigError(f"sampling must be 'random' or 'sequential', got {sampling!r}")
        self.sampling = sampling
        n = self.n_assets
        self.obs_dim = len(wnames) * self.window * n + ptfeat.shape[0] * n + n + 1
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        lev = float(self.costs.max_leverage)
        if action_mode == "softmax":
            self.action_space = spaces.Box(-1.0, 1.0, (n + 1,), np.float32)
        elif action_mode == "long_short":
            self.action_space = spaces.Box(-1.0, 1.0, (n,), np.float32)
        else:
            self.action_space = spaces.Box(-lev, lev, (n,), np.float32)
        self._action_shape = self.action_space.shape
        self._fp, self._ip = param_vectors()
        self.costs.fill(self._fp)
        self._fp[P_TEMP] = temperature
        self._fp[P_ETA] = self.reward_spec.eta
        self._fp[P_LAMBDA] = self.reward_spec.lam
        self._ip[I_MODE] = ACTION_MODES[action_mode]
        self._ip[I_REWARD] = self.reward_spec.code
        self._ip[I_WINDOW] = self.window
        self._configure_params(self._fp, self._ip)
        self._state = EnvState(1, n, self.obs_dim, self.reward_spec.window)
        s = self._state
        self._args = (
            self._fp,
            self._ip,
            self._exec,
            self._close,
            self._quality,
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
        # the state is all zeros (episode over), so this call only compiles / loads the kernel
        self._step_fn = fast_entry(step_one_nb, np.zeros(self._action_shape), *self._args)
        self._next_episode = 0
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)

    # ------------------------------------------------------------------ subclass hooks
    def _prepare_panel(self, seg: Panel) -> Panel:
        """Hook: add extras to the split panel before features are computed."""
        return seg

    def _extra_point_features(self, seg: Panel) -> tuple[np.ndarray | None, tuple[str, ...]]:
        """Hook: extra point features (F, T, N) float32 and their names."""
        return None, ()

    def _quality_array(self, seg: Panel) -> np.ndarray:
        """Hook: per-row ESG quality (T, N) used by the regulated market (unused here)."""
        return np.zeros((1, 1))

    def _first_allowed_row(self, seg: Panel) -> int:
        """Hook: earliest row an episode may start at."""
        return 0

    def _configure_params(self, fp: np.ndarray, ip: np.ndarray) -> None:
        """Hook: set extra kernel parameters."""
        ip[I_ESG] = 0

    # ------------------------------------------------------------------ gymnasium API
    def _start_row(self, options: dict[str, Any] | None) -> int:
        length = self.episode_length
        hi = self.last_row - length
        if options and options.get("start") is not None:
            start = options["start"]
            if isinstance(start, int | np.integer):
                row = int(start)
            else:
                row = int(np.searchsorted(self.panel.dates, to_datetime64(start), "left"))
            if not self.first_row <= row <= hi:
                raise ConfigError(
                    f"start {start!r} (row {row}) outside the allowed rows "
                    f"[{self.first_row}, {hi}] for episode_length={length}"
                )
            return row
        if self.sampling == "random":
            return int(self.np_random.integers(self.first_row, hi + 1))
        n_episodes = (self.last_row - self.first_row) // length
        k = self._next_episode % n_episodes
        self._next_episode += 1
        return self.first_row + k * length

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (all cash); ``options={"start": row or date}`` fixes its first row."""
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
        info = {"equity": float(self.costs.init_cash), "t": start}
        return s.obs[0].copy(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Rebalance to the action's weights at the next bar; returns the gymnasium 5-tuple."""
        a = np.ascontiguousarray(action, dtype=np.float64)
        if a.shape != self._action_shape:
            a = self._reshape_action(a)
        status = self._step_fn(a, *self._args)
        if status != OK:
            self._raise_status(status, a)
        reward, equity, fees, log_ret, turnover, done, row, _ = self._out_row.tolist()
        info = {
            "equity": equity,
            "fees": fees,
            "log_return": log_ret,
            "turnover": turnover,
            "t": int(row),
        }
        return self._obs_row.copy(), reward, done == 1.0, done == 2.0, info

    def _reshape_action(self, a: np.ndarray) -> np.ndarray:
        if a.size == int(np.prod(self._action_shape)) and a.ndim == 2 and a.shape[0] == 1:
            return np.ascontiguousarray(a.reshape(self._action_shape))
        raise ConfigError(
            f"action has shape {a.shape}, expected {self._action_shape} "
            f"(action_mode={self.action_mode!r}, {self.n_assets} assets)"
        )

    def _raise_status(self, status: int, a: np.ndarray) -> None:
        if status == DONE:
            raise ConfigError("the episode is over (or was never started): call reset()")
        if status == BAD_ACTION:
            bad = np.flatnonzero(~np.isfinite(a))
            raise ConfigError(
                f"action has non-finite values (NaN or inf) at index {bad[:5].tolist()}"
            )
        raise ConfigError(f"invalid action (status {status})")

    # ------------------------------------------------------------------ inspection
    @property
    def t(self) -> int:
        """Current row of the split panel (the last close the agent has seen)."""
        return int(self._state.scal[0, S_T])

    @property
    def date(self) -> np.datetime64:
        """Date of the current row."""
        return self.panel.dates[self.t]

    @property
    def equity(self) -> float:
        """Equity at the close of the current row."""
        return float(self._state.scal[0, 2])

    @property
    def weights(self) -> np.ndarray:
        """Current weights: N assets then cash (the last N + 1 observation entries)."""
        return self._state.obs[0, -(self.n_assets + 1) :].astype(np.float64)

    @property
    def positions(self) -> np.ndarray:
        """Units held per asset."""
        return self._state.book[0, 0].copy()

    def weights_to_action(self, weights: np.ndarray) -> np.ndarray:
        """An action that maps to ``weights`` (N risky weights; cash is the rest)."""
        w = np.asarray(weights, dtype=np.float64)
        if self.action_mode == "softmax":
            cash = 1.0 - w.sum()
            full = np.append(w, cash)
            if (full <= 0).any():
                raise ConfigError("softmax actions need strictly positive weights and cash")
            a = np.log(full) / self._fp[P_TEMP]
            return a - a.max()
        return w.copy()
