"""Account step of the environments on the backtester's kernel: costs, impact, execution timing.

Timing (the no-look-ahead rule): the agent acts on an observation built from data up to the
close of row t; the order fills at row t + 1, at its open (``execution="next_open"``, default)
or its close (``"next_close"``), and the step's return is measured to the close of row t + 1.
This is ``run_weights(..., lag=1)`` bar for bar: ``Account.step`` and the env kernels call the
same ``rebalance_bar_nb`` the backtester loops over.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from quantrl.data import load_market
from quantrl.data.panel import Panel
from quantrl.data.providers.bundled import DATASETS
from quantrl.data.splits import DEFAULT_SPLITS
from quantrl.envs.config import Costs, Execution
from quantrl.errors import ConfigError, DataError
from quantrl.kernels.env_state import (
    BOOK_ROWS,
    MARK,
    OUT_DTYPE,
    POS,
    STATE_DTYPE,
    Buffers,
    new_params,
)
from quantrl.kernels.envs import account_bar_nb
from quantrl.kernels.portfolio import TRADE_DTYPE

Split = Literal["train", "valid", "test", "all"]


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


class EnvState:
    """Preallocated state of ``n_envs`` environments (records in ``quantrl.kernels.env_state``)."""

    def __init__(self, n_envs: int, n_assets: int, obs_dim: int, ring: int) -> None:
        self.account = np.zeros((n_envs, 2))
        self.book = np.zeros((n_envs, BOOK_ROWS, n_assets))
        self.state = np.zeros(n_envs, dtype=STATE_DTYPE)
        self.ring = np.zeros((n_envs, ring))
        self.trades = np.zeros((n_envs, n_assets), dtype=TRADE_DTYPE)
        self.obs = np.zeros((n_envs, obs_dim), dtype=np.float32)
        self.out = np.zeros(n_envs, dtype=OUT_DTYPE)
        self.out_values = self.out.view(np.float64).reshape(n_envs, len(OUT_DTYPE.names))
        """``out`` as a float64 (E, 8) view: one row reads as a plain list."""
        self.buffers = Buffers(
            self.account, self.book, self.state, self.ring, self.trades, self.obs, self.out
        )
        """The arrays above as the kernels take them."""


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
        self.book = np.zeros((BOOK_ROWS, n_assets))
        self.book[MARK] = np.nan
        self.positions = self.book[POS]
        """Units held per asset (a view of the book)."""
        self.mark = self.book[MARK]
        """Latest known price per asset (a view of the book)."""
        self._params = new_params()
        self.costs.write(self._params)
        self._trades = np.zeros(n_assets, dtype=TRADE_DTYPE)

    @property
    def cash(self) -> float:
        """Cash held."""
        return float(self.account[0])

    def step(
        self, bar: int, exec_row: np.ndarray, close_row: np.ndarray, targets: np.ndarray
    ) -> tuple[float, float]:
        """Trade to ``targets`` at ``exec_row`` prices, mark at ``close_row``; (equity, fees)."""
        equity, paid, _ = account_bar_nb(
            bar,
            np.ascontiguousarray(exec_row, dtype=np.float64),
            np.ascontiguousarray(close_row, dtype=np.float64),
            np.ascontiguousarray(targets, dtype=np.float64),
            self.account,
            self.book,
            self._params,
            0.0,
            self._trades,
        )
        return float(equity), float(paid)


__all__ = [
    "DEFAULT_SPLITS",
    "Account",
    "Costs",
    "EnvState",
    "Execution",
    "Split",
    "exec_prices",
    "fast_entry",
    "fraction_split_dates",
    "resolve_panel",
    "split_panel",
]
