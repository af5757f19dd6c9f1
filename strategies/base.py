"""The Strategy protocol, the rebalancing schedule and the registry the CLI finds strategies in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from quantrl.data.panel import Panel
from quantrl.errors import ConfigError


@runtime_checkable
class Strategy(Protocol):
    """Turns a panel into target weights (T, N) using, for row t, only data up to the close of t.

    NaN in a row means "no new target" (the backtester keeps the position); rows are traded by
    ``quantrl.backtest.run_weights`` at the next bar, so a strategy never sees its fill price.
    It may declare ``lookback``, the rows of history it needs before its first decision (every
    gallery strategy does): backtests on a split give it at least that much history before the
    split (``quantrl.backtest.compare.required_history``).
    """

    name: str

    def target_weights(self, panel: Panel) -> np.ndarray:
        """Target weights, one row per date, one column per symbol."""
        ...


REGISTRY: dict[str, Callable[..., Strategy]] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator adding a strategy to the registry under ``name``."""

    def wrap(cls: type) -> type:
        REGISTRY[name] = cls
        return cls

    return wrap


def get_strategy(name: str, **params: Any) -> Strategy:
    """Instantiate a registered strategy; unknown names list the choices."""

    try:
        factory = REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; available: {', '.join(sorted(REGISTRY))}"
        ) from None
    try:
        return factory(**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for strategy {name!r}: {exc}") from exc


def rebalance_rows(n_dates: int, every: int, start: int = 0) -> np.ndarray:
    """Row indices on which to rebalance: ``start, start + every, ...``."""
    if every < 1:
        raise ConfigError(f"rebalance every must be >= 1 bar, got {every}")
    return np.arange(max(start, 0), n_dates, every)


def tradable(panel: Panel) -> np.ndarray:
    """(T, N) bool: the symbol has a valid close on that date."""
    return np.isfinite(panel["close"])


def equal_weights(mask: np.ndarray) -> np.ndarray:
    """1/k on the True entries of each row (k = their count); zeros elsewhere."""
    counts = mask.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(mask, 1.0 / np.maximum(counts, 1), 0.0)
    return out


def log_returns(panel: Panel) -> np.ndarray:
    """(T, N) log returns of close (NaN on the first row and around missing bars)."""
    close = panel["close"]
    out = np.full(close.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[1:] = np.log(close[1:] / close[:-1])
    return out
