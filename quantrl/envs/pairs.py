"""``quantrl/PairsTrading-v0``: trade the spread of a cointegrated pair with three actions.

Pair selection (Engle-Granger, numpy only): regress ``log a_t = alpha + beta log b_t + e_t`` by
OLS on the training rows, then run an ADF-style regression on the residual,
``de_t = rho e_{t-1} + sum_{i=1..p} phi_i de_{t-i} + u_t`` (no constant: the OLS residual has mean
zero), and use the t-statistic of ``rho``; more negative = more mean-reverting. The 5% critical
value for two variables is about -3.34 (MacKinnon 2010, constant, no trend); no p-value is
computed.

Spread ``s_t = log a_t - beta log b_t`` with ``beta`` from the training rows only; its z-score uses
the mean and std of the last ``window`` spreads up to t. Action ``Discrete(3)``: 0 = short the
spread, 1 = flat, 2 = long the spread; long spread targets weights
``(1, -beta) / (1 + |beta|)`` of equity in (a, b) (gross 1), short the negative. The order
decided at the close of row t fills at the close of row t + 1 (``execution="next_close"`` of the
backtester) paying ``fees`` on the traded notional; the reward is the log growth of equity to that
close (so a position's P&L arrives in the following steps). Observation (float32): the last
``n_lags`` z-scores (clipped to [-10, 10]), then the one-hot current position.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from quantrl.data.panel import Panel
from quantrl.envs.core import check_positive_int, resolve_panel, split_panel
from quantrl.errors import ConfigError

EG_CRITICAL_5PCT = -3.34
"""Approximate 5% critical value of the two-variable Engle-Granger ADF t-statistic."""


def ols_hedge(log_a: np.ndarray, log_b: np.ndarray) -> tuple[float, float]:
    """OLS ``log_a = alpha + beta log_b``: returns (beta, alpha)."""
    x = np.column_stack([np.ones_like(log_b), log_b])
    coef, *_ = np.linalg.lstsq(x, log_a, rcond=None)
    return float(coef[1]), float(coef[0])


def adf_tstat(e: np.ndarray, lags: int = 1) -> float:
    """t-statistic of ``rho`` in ``de_t = rho e_{t-1} + sum_i phi_i de_{t-i}`` (no constant)."""
    e = np.asarray(e, dtype=np.float64)
    de = np.diff(e)
    rows = de.size - lags
    if rows <= lags + 2:
        return float("nan")
    y = de[lags:]
    cols = [e[lags:-1]] + [de[lags - i : de.size - i] for i in range(1, lags + 1)]
    x = np.column_stack(cols)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    dof = rows - x.shape[1]
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(x.T @ x)
    return float(coef[0] / np.sqrt(cov[0, 0]))


def engle_granger(log_a: np.ndarray, log_b: np.ndarray, lags: int = 1) -> dict[str, float]:
    """Engle-Granger step 1 + 2: hedge ratio, intercept and the residual's ADF t-statistic."""
    beta, alpha = ols_hedge(log_a, log_b)
    return {"beta": beta, "alpha": alpha, "adf_t": adf_tstat(log_a - alpha - beta * log_b, lags)}


def rank_pairs(panel: Panel, lags: int = 1) -> list[tuple[str, str, float, float]]:
    """All symbol pairs with complete closes, ranked by ADF t-statistic: (a, b, beta, t)."""
    close = np.asarray(panel["close"], dtype=np.float64)
    ok = np.isfinite(close).all(axis=0)
    logc = np.log(np.where(close > 0, close, np.nan))
    out = []
    for i, j in combinations(np.flatnonzero(ok), 2):
        eg = engle_granger(logc[:, i], logc[:, j], lags)
        out.append((panel.symbols[i], panel.symbols[j], eg["beta"], eg["adf_t"]))
    out.sort(key=lambda r: (r[3], r[0], r[1]))
    return out


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


class PairsTradingEnv(gym.Env):
    """Short / flat / long the spread of a pair on daily bars (``PairsTrading-v0``)."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        market: str | Panel = "dow30",
        *,
        pair: tuple[str, str] | None = None,
        beta: float | None = None,
        split: str = "train",
        split_dates: tuple[Any, Any] | None = None,
        window: int = 20,
        n_lags: int = 5,
        episode_length: int | None = 252,
        fees: float = 0.001,
        init_cash: float = 1e6,
        sampling: str | None = None,
        seed: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        if render_mode is not None:
            raise ConfigError(f"render_mode {render_mode!r} is not supported (none available)")
        self.window = check_positive_int("window", window, 2)
        self.n_lags = check_positive_int("n_lags", n_lags)
        if not np.isfinite(fees) or fees < 0:
            raise ConfigError(f"fees must be a finite number >= 0, got {fees}")
        self.fees = float(fees)
        self.init_cash = float(init_cash)
        full = resolve_panel(market)
        train = split_panel(full, "train", split_dates, 0)
        if pair is None:
            a, b, beta_sel, _ = rank_pairs(train)[0]
            pair = (a, b)
            beta = beta_sel if beta is None else beta
        for s in pair:
            if s not in full.symbols:
                raise ConfigError(f"pair symbol {s!r} is not in the market's symbols")
        if beta is None:
            tr = train.select(list(pair))
            beta = ols_hedge(np.log(tr["close"][:, 0]), np.log(tr["close"][:, 1]))[0]
        self.pair = (str(pair[0]), str(pair[1]))
        self.beta = float(beta)
        history = self.window + self.n_lags
        seg = split_panel(full.select(list(self.pair)), split, split_dates, history)
        close = np.asarray(seg["close"], dtype=np.float64)
        if not np.isfinite(close).all():
            raise ConfigError(f"pair {self.pair} has missing closes in the {split} split")
        self.panel = seg
        self.split = split
        self._close = close
        self.spread = np.log(close[:, 0]) - self.beta * np.log(close[:, 1])
        self.zscore = np.clip(rolling_zscore(self.spread, self.window), -10.0, 10.0)
        self.first_row = max(seg.warmup, history)
        self.last_row = seg.n_dates - 1
        span = self.last_row - self.first_row
        if span < 1:
            raise ConfigError(f"the {split} split is too short for window={window}")
        self.episode_length = span if episode_length is None else int(episode_length)
        if not 1 <= self.episode_length <= span:
            raise ConfigError(f"episode_length must be in [1, {span}], got {episode_length}")
        if sampling is None:
            sampling = "sequential" if split in ("valid", "test") else "random"
        if sampling not in ("random", "sequential"):
            raise ConfigError(f"sampling must be 'random' or 'sequential', got {sampling!r}")
        self.sampling = sampling
        self._unit = spread_weights(self.beta)
        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(-10.0, 10.0, (self.n_lags + 3,), np.float32)
        self._t = self.first_row
        self._end = self.first_row
        self._units = np.zeros(2)
        self._cash = self.init_cash
        self._pos = 0
        self._next_episode = 0
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)

    def _obs(self) -> np.ndarray:
        z = self.zscore[self._t - self.n_lags + 1 : self._t + 1]
        onehot = np.zeros(3)
        onehot[self._pos + 1] = 1.0
        return np.concatenate([z, onehot]).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start flat; ``options={"start": row}`` fixes the first row."""
        super().reset(seed=seed)
        if seed is not None:
            self._next_episode = 0
        hi = self.last_row - self.episode_length
        if options and options.get("start") is not None:
            start = int(options["start"])
            if not self.first_row <= start <= hi:
                raise ConfigError(f"start row {start} outside [{self.first_row}, {hi}]")
        elif self.sampling == "random":
            start = int(self.np_random.integers(self.first_row, hi + 1))
        else:
            n = max((hi - self.first_row) // self.episode_length + 1, 1)
            start = self.first_row + (self._next_episode % n) * self.episode_length
            self._next_episode += 1
        self._t, self._end = start, start + self.episode_length
        self._units[:] = 0.0
        self._cash = self.init_cash
        self._pos = 0
        return self._obs(), {"equity": self.init_cash, "t": start, "position": 0}

    def target_weights(self, action: int) -> np.ndarray:
        """Target weights in (a, b) of an action (0 short, 1 flat, 2 long the spread)."""
        return (int(action) - 1) * self._unit

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Fill the action's target at the next close; reward = log equity growth to it."""
        if self._t >= self._end:
            raise ConfigError("the episode is over: call reset()")
        a = int(np.asarray(action).reshape(()))
        if a not in (0, 1, 2):
            raise ConfigError(f"action must be 0, 1 or 2, got {action!r}")
        prev_px = self._close[self._t]
        prev_eq = self._cash + float(self._units @ prev_px)
        self._t += 1
        px = self._close[self._t]
        equity = self._cash + float(self._units @ px)
        target = self.target_weights(a) * equity / px
        trade = target - self._units
        fee = self.fees * float(np.abs(trade) @ px)
        self._cash -= float(trade @ px) + fee
        self._units = target
        self._pos = a - 1
        new_eq = self._cash + float(self._units @ px)
        terminated = new_eq <= 0
        reward = float(np.log(new_eq / prev_eq)) if new_eq > 0 else -10.0
        truncated = self._t >= self._end and not terminated
        info = {"equity": new_eq, "fees": fee, "t": self._t, "position": self._pos}
        return self._obs(), reward, bool(terminated), bool(truncated), info

    @property
    def t(self) -> int:
        """Current row of the split panel."""
        return self._t


__all__ = [
    "EG_CRITICAL_5PCT",
    "PairsTradingEnv",
    "adf_tstat",
    "engle_granger",
    "ols_hedge",
    "rank_pairs",
    "rolling_zscore",
    "spread_weights",
]
