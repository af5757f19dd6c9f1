"""``TradingEnv``: the one base of the quantrl trading environments.

It owns what every environment does the same way:

* market: a bundled name or a ``Panel`` (``resolve_panel``); the subclass picks its symbols;
* split: ``"train"``, ``"valid"``, ``"test"`` or ``"all"`` with ``split_dates=(valid_start,
  test_start)`` (default: the market's, see ``quantrl.data.splits.DEFAULT_SPLITS``, or the
  subclass's); valid and test carry the warm-up rows their features need before their start and
  never a row after their end;
* episodes: one starts all in cash at a row from ``first_row`` on and lasts ``episode_length``
  steps (``None``: up to the last row of the split); the environment truncates it itself.
  Starts are drawn at random (``sampling="random"``, the default for train and all) or tile the
  split in consecutive, non-overlapping episodes (``"sequential"``, the default for valid and
  test); ``reset(seed=...)`` reseeds the draws and restarts the tiling, and
  ``reset(options={"start": row or date})`` fixes the first row (a date: the first row on or
  after it). ``options`` must be a dict (or None) whose only key is ``start``;
* configuration: typed records (``quantrl.envs.config``) from record or flat keywords;
* kernel state: the ``params`` record, the per-env state records, book, return ring and
  observation buffers of ``quantrl.kernels.env_state``; a step is one call of the subclass's
  compiled kernel through its entry point (``fast_entry``);
* actions: a bad action (wrong shape, non-finite, not a valid level, too large to weigh) raises a
  ``ConfigError`` and leaves the episode as it was; what each environment clips or scales is
  documented with it;
* inspection: ``t``, ``date``, ``equity``, ``cash``, ``positions``, ``weights``, ``exec_prices``.

A subclass declares its records (``CONFIG``) and fills in the hooks: ``_history`` (rows of
history its features need), ``_build`` (arrays, spaces), ``_write_params``, ``_kernel`` (the step
kernel and its arguments) and ``_kernel_action``; optional ones select symbols, prepare the
panel, restrict the first row or the episode starts and add to the observation or the info.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from quantrl.data.panel import Panel, to_datetime64
from quantrl.envs.config import Costs, Slot, check_choice, check_int, resolve_config
from quantrl.envs.core import DEFAULT_SPLITS, EnvState, fast_entry, resolve_panel, split_panel
from quantrl.envs.rewards import RewardConfig
from quantrl.errors import ConfigError
from quantrl.kernels.env_state import (
    BAD_ACTION,
    BAD_SCALE,
    DONE,
    MARK,
    OK,
    POS,
    Market,
    new_params,
)
from quantrl.kernels.envs import reset_env_nb, step_one_nb

RESET_OPTIONS = ("start",)
"""Keys ``reset(options=...)`` accepts."""


def reset_start(options: Any) -> Any:
    """The ``start`` of ``reset(options=...)`` (None when not given); ConfigError when malformed."""
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise ConfigError(f"reset options must be a dict or None, got {type(options).__name__}")
    unknown = sorted(str(k) for k in options if k not in RESET_OPTIONS)
    if unknown:
        raise ConfigError(
            f"unknown reset option(s) {', '.join(unknown)}; valid: {', '.join(RESET_OPTIONS)}"
        )
    return options.get("start")


def check_seed(seed: Any) -> int | None:
    """``seed`` as an int >= 0 or None, else a ConfigError."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


_INTEGERS = (int, np.integer)


def discrete_action(n: int, action: Any) -> int:
    """A discrete action as an int in [0, n - 1], or a ConfigError (1e20, 2.5, NaN, "a", ...)."""
    if isinstance(action, _INTEGERS) and not isinstance(action, bool):
        value: Any = int(action)
        if 0 <= value < n:
            return value
    else:
        try:
            a = np.asarray(action)
        except (ValueError, TypeError):
            a = np.asarray(None)
        if a.size != 1 or a.dtype.kind not in "iuf":
            raise ConfigError(f"action must be one integer in [0, {n - 1}], got {action!r}")
        value = a.reshape(()).item()
        if not np.isfinite(value) or value != int(value):
            raise ConfigError(f"action must be an integer in [0, {n - 1}], got {action!r}")
    if not 0 <= value < n:
        raise ConfigError(f"action {action!r} is outside [0, {n - 1}]")
    return int(value)


def _explicit_keywords(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass in (gym.Env, object):
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind is p.KEYWORD_ONLY:
                names.add(p.name)
    return names


class TradingEnv(gym.Env):
    """Base of the quantrl trading environments (see the module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    CONFIG: ClassVar[dict[str, Slot]] = {}
    """Record keyword -> ``Slot`` (record class, default, flat keywords)."""
    default_splits: ClassVar[dict[str, tuple[str, str]] | None] = None
    """Default ``(valid_start, test_start)`` per market name (None: ``DEFAULT_SPLITS``)."""
    info_extra: ClassVar[str | None] = None
    """The ``info`` key of the kernel's ``out.extra`` (None: not reported)."""

    costs: Costs
    reward_config: RewardConfig
    n_assets: int

    @classmethod
    def keywords(cls) -> frozenset[str]:
        """Every keyword argument the environment accepts: its own, its records', the flat ones."""
        flat = {key for slot in cls.CONFIG.values() for key in slot.flat}
        return frozenset({*_explicit_keywords(cls), *cls.CONFIG, *flat})

    _market: Market
    _kernel_obs_dim: int

    def __init__(
        self,
        market: str | Panel,
        *,
        split: str = "train",
        split_dates: tuple[Any, Any] | None = None,
        episode_length: int | None = 252,
        sampling: str | None = None,
        seed: int | None = None,
        render_mode: str | None = None,
        **config: Any,
    ) -> None:
        super().__init__()
        if render_mode is not None:
            raise ConfigError(f"render_mode {render_mode!r} is not supported (none available)")
        seed = check_seed(seed)
        self.config = resolve_config(
            type(self).__name__, self.CONFIG, config, _explicit_keywords(type(self))
        )
        self.costs = self.config["costs"]
        self.reward_config = self.config["reward"]
        self._configure()
        panel = self._select(resolve_panel(market), split_dates)
        self.split = check_choice("split", split, ("train", "valid", "test", "all"))
        history = self._history()
        if split_dates is None and split != "all":
            split_dates = self._default_split_dates(panel)
        splits = self.default_splits or DEFAULT_SPLITS
        seg = self._prepare_panel(split_panel(panel, split, split_dates, history, splits))
        self.panel = seg
        self.first_row = max(seg.warmup, history, self._first_allowed_row(seg))
        self.last_row = seg.n_dates - 1
        span = self.last_row - self.first_row
        if span < 1:
            raise ConfigError(
                f"the {split} split has {seg.n_dates} rows, too few for these settings (the "
                f"first decision row is {self.first_row}: {history} rows of history)"
            )
        if episode_length is None:
            self.episode_length = span
        else:
            self.episode_length = check_int("episode_length", episode_length)
            if self.episode_length > span:
                raise ConfigError(
                    f"episode_length={episode_length} is longer than the {split} split allows "
                    f"({span} steps from row {self.first_row} to {self.last_row})"
                )
        if sampling is None:
            sampling = "sequential" if split in ("valid", "test") else "random"
        self.sampling = check_choice("sampling", sampling, ("random", "sequential"))
        self._starts: np.ndarray | None = None
        self._build(seg)
        self._params = new_params()
        self.costs.write(self._params)
        self.reward_config.write(self._params)
        self._write_params(self._params)
        self._state = EnvState(1, self.n_assets, self._kernel_obs_dim, self.reward_config.window)
        self._st = self._state.state[0]
        self._out_row = self._state.out_values[0]
        self._obs_row = self._state.obs[0]
        kernel, probe, self._args = self._kernel()
        # the state is all zeros (no episode), so this call only compiles / loads the kernel
        self._step_fn = fast_entry(kernel, probe, *self._args)
        # an empty episode at the first row: the env stays unstarted until reset()
        row = self.first_row
        buffers = self._state.buffers
        self._reset_fn = fast_entry(reset_env_nb, 0, row, row, self._params, self._market, buffers)
        cls = type(self)
        plain_obs = cls._observation is TradingEnv._observation
        self._observe = self._obs_row.copy if plain_obs else self._observation
        self._info_hook = None if cls._add_info is TradingEnv._add_info else self._add_info
        self._next_episode = 0
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)

    # ------------------------------------------------------------------ subclass hooks
    def _configure(self) -> None:
        """Hook: read the records into attributes, check settings that span records."""

    def _select(self, panel: Panel, split_dates: tuple[Any, Any] | None) -> Panel:
        """Hook: the symbols this environment trades."""
        return panel

    def _history(self) -> int:
        """Hook: rows of history the observation needs before an episode's first row."""
        raise NotImplementedError

    def _default_split_dates(self, panel: Panel) -> tuple[Any, Any] | None:
        """Hook: split dates when none are given (None: the market's defaults)."""
        return None

    def _prepare_panel(self, seg: Panel) -> Panel:
        """Hook: add extras to the split panel before features are computed."""
        return seg

    def _first_allowed_row(self, seg: Panel) -> int:
        """Hook: earliest row an episode may start at."""
        return 0

    def _build(self, seg: Panel) -> None:
        """Hook: set ``n_assets``, the spaces, the ``_market`` arrays, ``_kernel_obs_dim``."""
        raise NotImplementedError

    def _write_params(self, params: np.ndarray) -> None:
        """Hook: write this environment's fields of the params record."""

    def _kernel(self) -> tuple[Any, Any, tuple[Any, ...]]:
        """Hook: (step kernel, a probe first argument, the other arguments).

        Default: the portfolio kernel ``step_one_nb``, whose first argument is the action as a
        float64 vector of target scores or weights.
        """
        return step_one_nb, np.zeros(1), (self._params, self._market, self._state.buffers)

    def _kernel_action(self, action: Any) -> Any:
        """Hook: the validated action as the kernel's first argument."""
        raise NotImplementedError

    def _on_reset(self, start: int, info: dict[str, Any]) -> None:
        """Hook: after the kernel reset an episode at ``start``; may add to ``info``."""

    def _observation(self) -> np.ndarray:
        """Hook: the observation (default: a copy of the kernel's observation buffer)."""
        return self._obs_row.copy()

    def _add_info(self, info: dict[str, Any]) -> None:
        """Hook: add to a step's ``info``."""

    # ------------------------------------------------------------------ episodes
    @property
    def start_rows(self) -> tuple[int, int]:
        """First and last row an episode may start at."""
        return self.first_row, self.last_row - self.episode_length

    def start_row(self, start: Any) -> int:
        """The row of ``start`` (a row or a date) if an episode may start there, else ConfigError."""
        lo, hi = self.start_rows
        if isinstance(start, int | np.integer) and not isinstance(start, bool):
            row = int(start)
        elif isinstance(start, str | np.datetime64 | dt.date) or hasattr(start, "to_datetime64"):
            row = int(np.searchsorted(self.panel.dates, to_datetime64(start), "left"))
        else:
            raise ConfigError(f"start must be a row (int) or a date, got {start!r}")
        if not lo <= row <= hi:
            raise ConfigError(
                f"start {start!r} (row {row}) outside the allowed rows [{lo}, {hi}] for "
                f"episode_length={self.episode_length}"
            )
        return row

    def _draw_start(self) -> int:
        lo, hi = self.start_rows
        starts = self._starts
        if self.sampling == "random":
            if starts is None:
                return int(self.np_random.integers(lo, hi + 1))
            return int(self.np_random.choice(starts))
        k = self._next_episode
        self._next_episode += 1
        if starts is None:
            n_episodes = (self.last_row - self.first_row) // self.episode_length
            return self.first_row + (k % n_episodes) * self.episode_length
        return int(starts[k % starts.size])

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (all cash); ``options={"start": row or date}`` fixes its first row."""
        start = reset_start(options)
        super().reset(seed=check_seed(seed))
        if seed is not None:
            self._next_episode = 0
        row = self._draw_start() if start is None else self.start_row(start)
        self._reset_fn(
            0, row, row + self.episode_length, self._params, self._market, self._state.buffers
        )
        info: dict[str, Any] = {"equity": float(self.costs.init_cash), "t": row}
        self._on_reset(row, info)
        return self._observe(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Act at the current row, fill at the next; returns the gymnasium 5-tuple.

        ``info``: ``equity``, ``fees`` (paid this step), ``log_return``, ``turnover`` (traded
        notional over the previous equity) and ``t`` (the row now observed), plus what the
        environment adds.
        """
        status = self._step_fn(self._kernel_action(action), *self._args)
        if status != OK:
            self._raise_status(status, action)
        reward, equity, fees, log_ret, turnover, done, row, extra = self._out_row.tolist()
        info = {
            "equity": equity,
            "fees": fees,
            "log_return": log_ret,
            "turnover": turnover,
            "t": int(row),
        }
        key = self.info_extra
        if key is not None:
            info[key] = extra
        hook = self._info_hook
        if hook is not None:
            hook(info)
        return self._observe(), reward, done == 1.0, done == 2.0, info

    def _raise_status(self, status: int, action: Any) -> None:
        if status == DONE:
            raise ConfigError("the episode is over (or was never started): call reset()")
        if status == BAD_ACTION:
            a = np.asarray(action, dtype=np.float64).reshape(-1)
            bad = np.flatnonzero(~np.isfinite(a))
            raise ConfigError(
                f"action has non-finite values (NaN or inf) at index {bad[:5].tolist()}"
            )
        if status == BAD_SCALE:
            raise ConfigError("action values are too large: their gross weight overflows")
        raise ConfigError(f"invalid action {action!r} (status {status})")

    # ------------------------------------------------------------------ inspection
    @property
    def t(self) -> int:
        """Current row of the split panel (the last close the agent has seen)."""
        return int(self._st["t"])

    @property
    def date(self) -> np.datetime64:
        """Date of the current row."""
        return self.panel.dates[self.t]

    @property
    def exec_prices(self) -> np.ndarray:
        """Fill prices per row of the split panel (T, N): the open or the close (``execution``)."""
        return self._market.exec_prices

    @property
    def equity(self) -> float:
        """Equity at the close of the current row."""
        return float(self._st["equity"])

    @property
    def cash(self) -> float:
        """Cash held."""
        return float(self._state.account[0, 0])

    @property
    def positions(self) -> np.ndarray:
        """Units held per asset."""
        return self._state.book[0, POS].copy()

    @property
    def weights(self) -> np.ndarray:
        """Current weights at the close: N assets then cash (values over equity)."""
        book = self._state.book[0]
        equity = self.equity
        inv = 1.0 / equity if equity > 0 else 0.0
        held = (book[POS] != 0) & ~np.isnan(book[MARK])
        values = np.where(held, book[POS] * np.nan_to_num(book[MARK]), 0.0)
        return np.append(values, self.cash) * inv


__all__ = ["RESET_OPTIONS", "TradingEnv", "check_seed", "discrete_action", "reset_start"]
