"""Traditional trading tactics as ``Portfolio-v0`` actions: MA crossover, mean reversion, momentum.

Each tactic picks, at the close of row t and from the closes of rows ``t - LONG .. t`` only, a
set of assets to hold in equal weight (an asset with a missing close in that window is never
picked):

* ``"ma_crossover"``: every asset whose ``SHORT``-day mean close is above its ``LONG``-day mean;
* ``"mean_reversion"``: the ``k`` assets furthest below their ``LONG``-day mean, in standard
  deviations (``(c_t - mean) / std``, sample std of the same ``LONG`` closes);
* ``"momentum"``: the ``k`` assets with the highest ``LONG``-day return ``c_t / c_{t-LONG} - 1``;

with ``k = max(1, round(N / 6))``. The action (softmax mode) is +1 on the picked assets and -1
elsewhere; cash gets +1 only when nothing is picked, so with temperature 5 the weights are
(almost exactly) equal over the picked assets. ``LONG = 20`` is the env's return window, so
each tactic is a function of the observation it is cloned from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from quantrl.data.panel import Panel
from quantrl.errors import ConfigError

SHORT = 5
LONG = 20
TACTICS: dict[str, str] = {
    "ma_crossover": "MA crossover",
    "mean_reversion": "mean reversion",
    "momentum": "momentum",
}
"""Tactic key -> display name."""


def top_k(n_assets: int) -> int:
    """Assets held by the cross-sectional tactics: ``max(1, round(N / 6))``."""
    return max(1, round(n_assets / 6))


def tactic_picks(close: np.ndarray, tactic: str, t: int) -> np.ndarray:
    """Boolean (N,) mask of the assets ``tactic`` holds after the close of row ``t``."""
    c = np.asarray(close, dtype=np.float64)
    if t < LONG:
        raise ConfigError(f"row {t} has fewer than {LONG} rows of history")
    window = c[t - LONG : t + 1]
    ok = np.isfinite(window).all(axis=0)
    picks = np.zeros(c.shape[1], dtype=bool)
    if not ok.any():
        return picks
    last = window[-1]
    long_mean = window[1:].mean(axis=0)
    if tactic == "ma_crossover":
        picks = ok & (window[-SHORT:].mean(axis=0) > long_mean)
        return picks
    if tactic == "mean_reversion":
        z = (last - long_mean) / window[1:].std(axis=0, ddof=1)
        score = np.where(ok & np.isfinite(z), -z, -np.inf)
    elif tactic == "momentum":
        score = np.where(ok, last / window[0] - 1.0, -np.inf)
    else:
        raise ConfigError(f"unknown tactic {tactic!r}; choose from {', '.join(TACTICS)}")
    k = min(top_k(c.shape[1]), int(np.isfinite(score).sum()))
    picks[np.argsort(-score, kind="stable")[:k]] = True
    return picks


def tactic_action(panel: Panel, tactic: str, t: int) -> np.ndarray:
    """Softmax-mode action (N + 1,): +1 on the picked assets, cash +1 only if none is picked."""
    picks = tactic_picks(panel["close"], tactic, t)
    a = -np.ones(panel.n_symbols + 1)
    a[:-1][picks] = 1.0
    if not picks.any():
        a[-1] = 1.0
    return a


def tactic_policy(panel: Panel, tactic: str) -> Callable[[np.ndarray, Any], np.ndarray]:
    """``tactic`` as a ``policy(obs, env)`` for ``quantrl.agents.rollout`` on ``panel``'s env."""
    return lambda obs, env: tactic_action(panel, tactic, env.unwrapped.t)


__all__ = ["LONG", "SHORT", "TACTICS", "tactic_action", "tactic_picks", "tactic_policy", "top_k"]
