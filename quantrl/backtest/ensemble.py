"""Ensembles of strategies and agents: combine their return streams without looking ahead.

Methods (allocation a_{k,t} over members k, decided with returns up to t - 1 and applied to the
returns of bar t; sleeves are rebalanced to the allocation every bar at no extra cost):

* ``"equal"``: a_k = 1/K.
* ``"inverse_vol"``: a_k proportional to 1 / std of member k's last ``window`` returns.
* ``"best_sharpe"``: every ``window`` bars, all capital goes to the member with the highest Sharpe
  ratio over the previous ``window`` bars (FinRL's ensemble picks its agent this way on a
  validation window), held until the next selection.

Before a full window exists the allocation is equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from quantrl.errors import ConfigError

Method = Literal["equal", "inverse_vol", "best_sharpe"]


@dataclass(frozen=True)
class EnsembleResult:
    """Combined returns (T,), the allocation (T, K) used on each bar, and member names."""

    returns: np.ndarray
    allocation: np.ndarray
    names: tuple[str, ...]

    @property
    def equity(self) -> np.ndarray:
        """Growth of 1."""
        return np.cumprod(1.0 + self.returns)


def _stack(members: Mapping[str, np.ndarray]) -> tuple[np.ndarray, tuple[str, ...]]:
    if len(members) < 1:
        raise ConfigError("an ensemble needs at least one member")
    names = tuple(members)
    arrays = [np.asarray(members[n], dtype=np.float64).reshape(-1) for n in names]
    lengths = {a.size for a in arrays}
    if len(lengths) != 1:
        raise ConfigError(
            f"members have different lengths: {dict(zip(names, map(len, arrays), strict=True))}"
        )
    return np.nan_to_num(np.stack(arrays, axis=1), nan=0.0), names


def combine_returns(
    members: Mapping[str, np.ndarray], method: Method = "equal", *, window: int = 63
) -> EnsembleResult:
    """Combine member return series (each (T,)) by ``method``; see the module docstring."""
    rets, names = _stack(members)
    t, k = rets.shape
    if window < 2:
        raise ConfigError(f"window must be >= 2, got {window}")
    alloc = np.full((t, k), 1.0 / k)
    if method == "equal":
        pass
    elif method == "inverse_vol":
        for i in range(window, t):
            vol = rets[i - window : i].std(axis=0, ddof=1)
            inv = np.where(vol > 0, 1.0 / np.where(vol > 0, vol, 1.0), 0.0)
            if inv.sum() > 0:
                alloc[i] = inv / inv.sum()
    elif method == "best_sharpe":
        for start in range(window, t, window):
            past = rets[start - window : start]
            sd = past.std(axis=0, ddof=1)
            sharpe = np.where(sd > 0, past.mean(axis=0) / np.where(sd > 0, sd, 1.0), -np.inf)
            choice = np.zeros(k)
            choice[int(np.argmax(sharpe))] = 1.0
            alloc[start : start + window] = choice
    else:
        raise ConfigError(f"method must be equal, inverse_vol or best_sharpe, got {method!r}")
    return EnsembleResult((alloc * rets).sum(axis=1), alloc, names)
