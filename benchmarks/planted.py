"""Planted-alpha markets: synthetic OHLCV panels whose future returns follow known formulas.

``make_planted_market`` simulates ``n_symbols`` stocks day by day. On day t the planted signal is

    alpha_t = sum_i weight_i * zrank(formula_i)_t

where ``zrank`` is the per-date z-scored percentile rank (the alpha pool's rank transform) and
each formula is evaluated by the formula engine on the history simulated so far (so the signal
is exactly the formula a miner can write). The next day's log return of stock j is

    r_{t+1} = market_{t+1} + strength / horizon * alpha_t + daily_vol * eps,

so a stock's return over the next ``horizon`` days carries ``strength`` times the average signal
of those days, plus noise whose 20-day std is ``daily_vol * sqrt(horizon)``. Volumes follow a
log AR(1) per stock; open, high and low are drawn around the closes. Everything comes from one
``numpy.random.default_rng(seed)``.

The ceiling of a split is the mean daily IC (and RankIC) of ``alpha_t`` itself against the
realised label ``Ref($close,-horizon)/$close-1`` of that split: what a miner that found the
planted formulas and their weights would reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantrl.alpha import EvalCache, evaluate, parse
from quantrl.data.panel import Panel
from quantrl.mining.transforms import transform_rows
from quantrl.stats.ic import ic_summary

__all__ = ["PLANTED", "PlantedMarket", "make_planted_market"]

#: The default planted formulas and weights: 10-day mean reversion (a stock far below its
#: 10-day mean rebounds) and a negative 10-day price-volume correlation.
PLANTED: tuple[tuple[str, float], ...] = (
    ("Div(Mean($close,10),$close)", 1.0),
    ("Corr($close,$volume,10)", -1.0),
)


@dataclass
class PlantedMarket:
    """A simulated panel, its planted signal and its train / valid / test splits."""

    panel: Panel
    alpha: np.ndarray  # (T, N) planted signal known at the close of each date
    formulas: tuple[str, ...]
    weights: tuple[float, ...]
    horizon: int
    splits: dict[str, Panel] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def signal(self, split: str) -> np.ndarray:
        """The planted signal on a split's rows (NaN on its warm-up rows)."""
        part = self.splits[split]
        start = int(np.searchsorted(self.panel.dates, part.dates[0]))
        out = self.alpha[start : start + part.n_dates].copy()
        out[: part.warmup] = np.nan
        return out

    def ceiling(self, split: str) -> dict[str, float]:
        """IC, RankIC and ICIRs of the planted signal against the split's realised label."""
        summary = ic_summary(self.signal(split), self.labels[split]).as_dict()
        return {k: float(summary[k]) for k in ("ic", "rank_ic", "icir", "rank_icir")}


def make_planted_market(
    *,
    n_symbols: int = 300,
    n_days: int = 1500,
    planted: Sequence[tuple[str, float]] = PLANTED,
    strength: float = 0.04,
    daily_vol: float = 0.02,
    horizon: int = 20,
    seed: int = 0,
    valid_frac: float = 0.2,
    test_frac: float = 0.2,
    warmup: int = 100,
) -> PlantedMarket:
    """Simulate a planted-alpha market (see the module docstring) and split it by date."""
    rng = np.random.default_rng(seed)
    exprs = [parse(f) for f, _ in planted]
    weights = np.asarray([float(w) for _, w in planted])
    history = 1 + max(e.lookback for e in exprs)
    n, t_len = int(n_symbols), int(n_days)
    dates = np.busday_offset("2010-01-04", np.arange(t_len), roll="forward").astype(
        "datetime64[ns]"
    )
    symbols = tuple(f"S{j:03d}" for j in range(n))
    close = np.empty((t_len, n))
    volume = np.empty((t_len, n))
    alpha = np.full((t_len, n), np.nan)
    close[0] = 20.0 * np.exp(rng.normal(1.5, 0.6, n))
    level = rng.normal(13.0, 1.0, n)  # log volume level per stock
    log_v = level + rng.normal(0.0, 0.3, n)
    volume[0] = np.exp(log_v)
    drift = np.zeros(n)
    for t in range(1, t_len):
        market = rng.normal(0.0003, 0.01)
        eps = rng.standard_normal(n)
        close[t] = close[t - 1] * np.exp(market + drift + daily_vol * eps)
        log_v = level + 0.9 * (log_v - level) + 0.3 * rng.standard_normal(n)
        volume[t] = np.exp(log_v)
        if t + 1 >= history:
            window = slice(t + 1 - history, t + 1)
            sub = Panel(dates[window], symbols, {"close": close[window], "volume": volume[window]})
            memo = EvalCache(max_bytes=64 << 20)
            z = [
                transform_rows(np.asarray(evaluate(e, sub, cache=memo))[-1:], "rank")[0]
                for e in exprs
            ]
            alpha[t] = np.tensordot(weights, np.stack(z), axes=1)
            drift = strength / horizon * np.nan_to_num(alpha[t])
    gap = np.exp(rng.normal(0.0, 0.004, (t_len, n)))
    open_ = np.vstack([close[:1], close[:-1]]) * gap
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * np.exp(np.abs(rng.normal(0.0, 0.006, (t_len, n))))
    low = bottom * np.exp(-np.abs(rng.normal(0.0, 0.006, (t_len, n))))
    panel = Panel(
        dates,
        symbols,
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        meta={"source": "planted", "seed": seed, "planted": [f for f, _ in planted]},
    )
    n_test = int(round(test_frac * t_len))
    n_valid = int(round(valid_frac * t_len))
    valid_start = dates[t_len - n_test - n_valid]
    test_start = dates[t_len - n_test]
    train, valid, test = panel.split(valid_start, test_start, warmup=warmup)
    splits = {"train": train, "valid": valid, "test": test}
    labels = {k: p.forward_returns(horizon) for k, p in splits.items()}
    return PlantedMarket(
        panel,
        alpha,
        tuple(str(e) for e in exprs),
        tuple(float(w) for w in weights),
        int(horizon),
        splits,
        labels,
    )


def describe(market: PlantedMarket) -> dict[str, Any]:
    """Sizes, planted formulas and the ceiling ICs of every split."""
    return {
        "symbols": market.panel.n_symbols,
        "days": market.panel.n_dates,
        "planted": list(zip(market.formulas, market.weights, strict=True)),
        "ceiling": {k: market.ceiling(k) for k in market.splits},
    }
