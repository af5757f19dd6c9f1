"""Observation features, precomputed once per environment as float32 arrays (causal only).

Every feature at row t uses data of rows <= t, so an observation never sees the future. Missing
values (no bar, not enough history) become 0 in the observation.

* window features, shape (Fw, T, N): the agent sees the last ``window`` rows of each;
* point features, shape (Fp, T, N): the agent sees row t only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from quantrl.alpha import evaluate, parse
from quantrl.data.panel import Panel
from quantrl.errors import ConfigError


def log_returns(close: np.ndarray) -> np.ndarray:
    """``log(c_t / c_{t-1})`` (T, N); NaN on the first row and where a price is missing."""
    out = np.full(close.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:] = np.log(close[1:] / close[:-1])
    return out


def rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Sample std (ddof 1) of the last ``window`` rows, NaN treated as 0; first rows NaN."""
    x0 = np.nan_to_num(x, nan=0.0)
    out = np.full(x.shape, np.nan)
    if x.shape[0] < window:
        return out
    c1 = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x0]), axis=0)
    c2 = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x0 * x0]), axis=0)
    s1 = c1[window:] - c1[:-window]
    s2 = c2[window:] - c2[:-window]
    var = (s2 - s1 * s1 / window) / (window - 1)
    out[window - 1 :] = np.sqrt(np.maximum(var, 0.0))
    return out


def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` rows, NaN treated as 0; the first ``window - 1`` rows NaN."""
    x0 = np.nan_to_num(x, nan=0.0)
    out = np.full(x.shape, np.nan)
    if x.shape[0] < window:
        return out
    c1 = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x0]), axis=0)
    out[window - 1 :] = (c1[window:] - c1[:-window]) / window
    return out


def _lagged_log_ratio(close: np.ndarray, lag: int) -> np.ndarray:
    out = np.full(close.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[lag:] = np.log(close[lag:] / close[:-lag])
    return out


def momentum(panel: Panel) -> np.ndarray:
    """20-bar log momentum ``log(c_t / c_{t-20})``."""
    return _lagged_log_ratio(panel["close"], 20)


def rsi(panel: Panel) -> np.ndarray:
    """14-bar RSI from simple mean gains and losses, scaled to [-1, 1] (``rsi / 50 - 1``)."""
    r = log_returns(panel["close"])
    gain = rolling_mean(np.where(r > 0, r, 0.0), 14)
    loss = rolling_mean(np.where(r < 0, -r, 0.0), 14)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = gain / (gain + loss)
    return 2.0 * value - 1.0


def volume_z(panel: Panel) -> np.ndarray:
    """z-score of ``log(1 + volume)`` against its last 20 bars."""
    lv = np.log1p(np.maximum(panel["volume"], 0.0))
    mean = rolling_mean(lv, 20)
    std = rolling_std(lv, 20)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, (lv - mean) / std, 0.0)


def hl_range(panel: Panel) -> np.ndarray:
    """Bar range ``log(high / low)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(panel["high"] / panel["low"])


def close_location(panel: Panel) -> np.ndarray:
    """Close-location value ``((c - l) - (h - c)) / (h - l)`` in [-1, 1] (0 when h == l)."""
    h, low, c = panel["high"], panel["low"], panel["close"]
    span = h - low
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, ((c - low) - (h - c)) / span, 0.0)


TECHNICALS: dict[str, Callable[[Panel], np.ndarray]] = {
    "momentum": momentum,
    "rsi": rsi,
    "volume_z": volume_z,
    "hl_range": hl_range,
    "clv": close_location,
}
"""Optional technical point features by name."""


def factor_features(panel: Panel, formulas: Sequence[str]) -> list[np.ndarray]:
    """Alpha-expression factors, cross-sectionally z-scored per row (causal: one row at a time)."""

    out = []
    for formula in formulas:
        values = np.asarray(evaluate(formula, panel), dtype=np.float64)
        finite = np.where(np.isfinite(values), values, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # rows without any value
            mean = np.nanmean(finite, axis=1, keepdims=True)
            std = np.nanstd(finite, axis=1, keepdims=True)
            out.append(np.where(std > 0, (values - mean) / std, 0.0))
    return out


def factor_lookback(formulas: Sequence[str]) -> int:
    """Largest lookback (rows of history needed) among the alpha formulas."""
    if not formulas:
        return 0

    return max(int(parse(f).lookback) for f in formulas)


def portfolio_features(
    panel: Panel,
    *,
    vol_window: int = 20,
    technicals: Sequence[str] = (),
    factors: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Window features (log return) and point features (volatility, technicals, factors).

    Returns ``(winfeat (1, T, N), ptfeat (Fp, T, N), window names, point names)`` as float32
    with NaN and inf replaced by 0.
    """
    if int(vol_window) != vol_window or vol_window < 2:
        raise ConfigError(f"vol_window must be an integer >= 2, got {vol_window}")
    unknown = [t for t in technicals if t not in TECHNICALS]
    if unknown:
        raise ConfigError(
            f"unknown technical feature(s) {', '.join(unknown)}; choose from {', '.join(TECHNICALS)}"
        )
    lr = log_returns(panel["close"])
    points = [rolling_std(lr, int(vol_window))]
    names = ["volatility"]
    for name in technicals:
        points.append(TECHNICALS[name](panel))
        names.append(name)
    for i, values in enumerate(factor_features(panel, factors) if factors else []):
        points.append(values)
        names.append(f"factor_{i}")
    return clean(np.stack([lr])), clean(np.stack(points)), ("log_return",), tuple(names)


def clean(x: np.ndarray) -> np.ndarray:
    """float32 C-contiguous copy with NaN / inf replaced by 0."""
    return np.ascontiguousarray(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), np.float32)
