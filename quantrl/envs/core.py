"""Account step of the environments on the backtester's kernel: costs, impact, execution timing.

Timing (the no-look-ahead rule): the agent acts on an observation built from data up to the
close of row t; the order fills at row t + 1, at its open (``execution="next_open"``, default)
or its close (``"next_close"``), and the step's return is measured to the close of row t + 1.
This is ``run_weights(..., lag=1)`` bar for bar: ``Account.step`` and the env kernels call the
same ``rebalance_bar_nb`` the backtester loops over.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from quantrl.data import load_market
from quantrl.data.panel import Panel
from quantrl.data.providers.bundled import DATASETS
from quantrl.data.splits import DEFAULT_SPLITS
from quantrl.errors import ConfigError, DataError
from quantrl.kernels.envs import (
    BOOK_ROWS,
    I_SIZE,
    P_FEES,
    P_FIXED,
    P_INIT_CASH,
    P_LEVERAGE,
    P_MIN_SIZE,
    P_SIZE,
    P_SLIP,
    P_THRESHOLD,
    S_SIZE,
    account_bar_nb,
)
from quantrl.kernels.portfolio import DEFAULT_MIN_SIZE, TRADE_DTYPE, WORK_ROWS

Execution = Literal["next_open", "next_close"]
Split = Literal["train", "valid", "test", "all"]


@dataclass(frozen=True)
class Costs:
    """Trading costs and account settings, validated on construction."""

    fees: float = 0.001
    fixed_fees: float = 0.0
    slippage: float = 0.0
    init_cash: float = 1e6
    execution: Execution = "next_open"
    rebalance_threshold: float = 0.0
    max_leverage: float = 1.0

    def __post_init__(self) -> None:
        for name in ("fees", "fixed_fees", "slippage", "rebalance_threshold"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.slippage >= 1:
            raise ConfigError(
                f"slippage must be below 1 (a fraction of price), got {self.slippage}"
            )
        if not np.isfinite(self.init_cash) or self.init_cash <= 0:
            raise ConfigError(f"init_cash must be a finite number > 0, got {self.init_cash}")
        if not np.isfinite(self.max_leverage) or self.max_leverage <= 0:
            raise ConfigError(f"max_leverage must be a finite number > 0, got {self.max_leverage}")
        if self.execution not in ("next_open", "next_close"):
            raise ConfigError(
                f"execution must be 'next_open' or 'next_close', got {self.execution!r}"
            )

    def fill(self, fp: np.ndarray) -> None:
        """Write the cost slots of a float parameter vector."""
        fp[P_FEES] = self.fees
        fp[P_FIXED] = self.fixed_fees
        fp[P_SLIP] = self.slippage
        fp[P_MIN_SIZE] = DEFAULT_MIN_SIZE
        fp[P_THRESHOLD] = self.rebalance_threshold
        fp[P_INIT_CASH] = self.init_cash
        fp[P_LEVERAGE] = self.max_leverage


def exec_prices(panel: Panel, execution: Execution) -> np.ndarray:
    """Fill prices per row: the open for ``next_open``, the close for ``next_close``."""
    name = "open" if execution == "next_open" else "close"
    if name not in panel.fields:
        raise DataError(
            f"execution={execution!r} needs the {name!r} field; the panel has "
            f"{', '.join(panel.fields)}",
            rule="field missing",
        )
    return np.ascontiguousarray(panel[name], dtype=np.float64)


def resolve_panel(market: str | Panel, **load_kw: Any) -> Panel:
    """A Panel as given, or a bundled market by name (unknown names raise ConfigError)."""
    if isinstance(market, Panel):
        return market
    if not isinstance(market, str):
        raise ConfigError(f"market must be a bundled name or a Panel, got {type(market).__name__}")

    spec = DATASETS.get(market)
    if spec is None or spec.kind != "panel":
        names = ", ".join(n for n, d in DATASETS.items() if d.kind == "panel")
        raise ConfigError(f"unknown market {market!r}; bundled markets: {names}")
    return load_market(market, **load_kw)


def split_panel(
    panel: Panel,
    split: str,
    split_dates: tuple[Any, Any] | None,
    history: int,
    default_splits: dict[str, tuple[str, str]] = DEFAULT_SPLITS,
) -> Panel:
    """The ``split`` segment with ``history`` warm-up rows before valid/test (``"all"``: whole)."""
    if split == "all":
        return panel
    if split not in ("train", "valid", "test"):
        raise ConfigError(f"split must be 'train', 'valid', 'test' or 'all', got {split!r}")
    dates = split_dates or default_splits.get(panel.name)
    if dates is None:
        raise ConfigError(
            f"no default split dates for market {panel.name or 'unnamed'!r}: pass "
            "split_dates=(valid_start, test_start) or split='all'"
        )
    parts = panel.split(dates[0], dates[1], warmup=history)
    return parts[("train", "valid", "test").index(split)]


def fraction_split_dates(panel: Panel, valid: float = 0.7, test: float = 0.85) -> tuple[Any, Any]:
    """Split dates at fractions of the panel's rows (for intraday data without fixed dates)."""
    n = panel.n_dates
    return panel.dates[int(n * valid)], panel.dates[int(n * test)]


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ConfigError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class EnvState:
    """Preallocated state arrays of ``n_envs`` environments (layout in ``quantrl.kernels.envs``)."""

    def __init__(self, n_envs: int, n_assets: int, obs_dim: int, ring: int) -> None:
        self.account = np.zeros((n_envs, 2))
        self.book = np.zeros((n_envs, BOOK_ROWS, n_assets))
        self.scal = np.zeros((n_envs, S_SIZE))
        self.ring = np.zeros((n_envs, ring))
        self.trades = np.zeros((n_envs, n_assets), dtype=TRADE_DTYPE)
        self.obs = np.zeros((n_envs, obs_dim), dtype=np.float32)
        self.out = np.zeros((n_envs, 8))


def param_vectors() -> tuple[np.ndarray, np.ndarray]:
    """Zeroed float and int parameter vectors for the env kernels."""
    return np.zeros(P_SIZE), np.zeros(I_SIZE, dtype=np.int64)


def fast_entry(dispatcher: Any, *args: Any) -> Any:
    """The compiled entry point of ``dispatcher`` for these argument types (skips dispatch).

    Callers must keep passing arguments of exactly these types (C-contiguous arrays of the same
    dtypes and dimensions); ``dispatcher(*args)`` is called once to compile or load it.
    """
    dispatcher(*args)
    sig = tuple(dispatcher.typeof_pyval(a) for a in args)
    cres = dispatcher.overloads.get(sig)
    return dispatcher if cres is None else cres.entry_point


class Account:
    """A shared-cash account stepped bar by bar on the backtester's kernel (for custom envs)."""

    def __init__(self, n_assets: int, costs: Costs | None = None) -> None:
        self.costs = costs or Costs()
        self.account = np.array([self.costs.init_cash, self.costs.init_cash])
        self.positions = np.zeros(n_assets)
        self.debts = np.zeros(n_assets)
        self.mark = np.full(n_assets, np.nan)
        self._trades = np.zeros(n_assets, dtype=TRADE_DTYPE)
        self._work = np.zeros((WORK_ROWS, n_assets))

    @property
    def cash(self) -> float:
        """Cash held."""
        return float(self.account[0])

    def step(
        self, bar: int, exec_row: np.ndarray, close_row: np.ndarray, targets: np.ndarray
    ) -> tuple[float, float]:
        """Trade to ``targets`` at ``exec_row`` prices, mark at ``close_row``; (equity, fees)."""
        c = self.costs
        equity, paid, _ = account_bar_nb(
            bar,
            np.ascontiguousarray(exec_row, dtype=np.float64),
            np.ascontiguousarray(close_row, dtype=np.float64),
            np.ascontiguousarray(targets, dtype=np.float64),
            self.account,
            self.positions,
            self.debts,
            self.mark,
            c.fees,
            c.fixed_fees,
            c.slippage,
            DEFAULT_MIN_SIZE,
            c.rebalance_threshold,
            self._trades,
            self._work,
        )
        return float(equity), float(paid)
