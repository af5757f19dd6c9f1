"""IC and RankIC series of a factor against a label, and their summary.

Both take (T, N) arrays: a factor (value known at the close of date t) and a label (normally
``panel.forward_returns(h)``). A cell is missing when it is not finite. IC(t) / RankIC(t) is the
cross-sectional Pearson / Spearman (average ranks for ties) correlation over the symbols finite in
both on date t; NaN (and skipped by every summary) when fewer than 2 such symbols or either side
is constant. ICIR = mean(IC) / std(IC) with ``ddof=1`` over the dates where IC is defined.

ICIR treats the daily ICs as independent; with ``horizon``-bar labels consecutive labels share
``horizon - 1`` bars and the ICs are autocorrelated, so the summary also gives Newey-West
t-statistics of mean IC and mean RankIC with ``ic_lags(n_dates, horizon)`` >= horizon - 1 lags.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from quantrl.errors import ConfigError
from quantrl.kernels.correlation import pearson_rows_nb, sorted_keys, spearman_rows
from quantrl.stats.inference import ic_lags, newey_west_t

__all__ = [
    "ICSummary",
    "as_2d",
    "ic_series",
    "ic_summary",
    "label_order",
    "nanmean",
    "pair",
    "rank_ic_series",
    "summarize_ic",
]


# ---------------------------------------------------------------------------- input checks
def as_2d(name: str, array: Any) -> np.ndarray:
    """``array`` as a C-contiguous float64 (dates, symbols) array, or a ConfigError."""
    out = np.ascontiguousarray(np.asarray(array, dtype=np.float64))
    if out.ndim != 2:
        raise ConfigError(f"{name} must be a (dates, symbols) array, got shape {out.shape}")
    return out


def pair(factor: Any, label: Any) -> tuple[np.ndarray, np.ndarray]:
    """Factor and label as float64 (T, N) arrays of one shape, or a ConfigError."""
    f = as_2d("factor", factor)
    y = as_2d("label", label)
    if f.shape != y.shape:
        raise ConfigError(f"factor shape {f.shape} differs from label shape {y.shape}")
    return f, y


def nanmean(values: np.ndarray) -> float:
    """Mean of the finite entries; NaN when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _ir(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return math.nan
    std = float(finite.std(ddof=1))
    return float(finite.mean()) / std if std > 0.0 else math.nan


# ---------------------------------------------------------------------------- IC family
def ic_series(factor: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Per-date cross-sectional Pearson IC -> (T,); NaN where < 2 valid pairs or no variance."""
    f, y = pair(factor, label)
    return pearson_rows_nb(f, y)


def label_order(label: np.ndarray) -> np.ndarray:
    """The label's per-date sort (its sorted packed keys), to reuse across ``rank_ic_series``."""
    return sorted_keys(as_2d("label", label))


def rank_ic_series(
    factor: np.ndarray, label: np.ndarray, *, order: np.ndarray | None = None
) -> np.ndarray:
    """Per-date cross-sectional Spearman RankIC (average ranks for ties) -> (T,).

    ``order=label_order(label)`` skips re-sorting the label when many factors share it; the
    result is identical either way.
    """
    f, y = pair(factor, label)
    if order is not None and order.shape != y.shape:
        raise ConfigError(f"order has shape {order.shape}, the label {y.shape}")
    return spearman_rows(f, y, y_keys=order)


@dataclass(frozen=True)
class ICSummary:
    """Summary of the IC and RankIC series (ICIR uses the sample std, ddof=1).

    ``ic_t`` / ``rank_ic_t`` are Newey-West t-statistics of the mean IC / RankIC (NaN dates
    dropped) with ``lags`` lags, chosen for labels of ``horizon`` bars.
    """

    ic: float
    icir: float
    rank_ic: float
    rank_icir: float
    ic_positive: float
    n_dates: int
    ic_t: float
    rank_ic_t: float
    lags: int
    horizon: int

    def as_dict(self) -> dict[str, float]:
        """Plain dict of the fields."""
        return asdict(self)


def summarize_ic(ic: np.ndarray, rank_ic: np.ndarray, horizon: int = 1) -> ICSummary:
    """Summarise precomputed IC and RankIC series of ``horizon``-bar labels; NaN dates skipped.

    Both t-statistics use ``ic_lags(n_dates, horizon)`` lags, n_dates counting the dates with a
    finite IC.
    """
    ic = np.asarray(ic, dtype=np.float64)
    rank_ic = np.asarray(rank_ic, dtype=np.float64)
    finite = ic[np.isfinite(ic)]
    lags = ic_lags(int(finite.size), horizon)
    return ICSummary(
        ic=nanmean(ic),
        icir=_ir(ic),
        rank_ic=nanmean(rank_ic),
        rank_icir=_ir(rank_ic),
        ic_positive=float((finite > 0).mean()) if finite.size else math.nan,
        n_dates=int(finite.size),
        ic_t=newey_west_t(ic, lags).t,
        rank_ic_t=newey_west_t(rank_ic, lags).t,
        lags=lags,
        horizon=int(horizon),
    )


def ic_summary(factor: np.ndarray, label: np.ndarray, horizon: int = 1) -> ICSummary:
    """IC mean, ICIR, RankIC mean, RankICIR, share of positive ICs, dates used, NW t-stats.

    ``horizon`` is the label's length in bars (``panel.forward_returns(horizon)``).
    """
    f, y = pair(factor, label)
    return summarize_ic(pearson_rows_nb(f, y), spearman_rows(f, y), horizon)
