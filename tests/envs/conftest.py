"""Synthetic panels shared by the environment tests (as fixtures returning builders)."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.data.panel import Panel


def make_panel(
    n_bars: int = 300,
    n_assets: int = 4,
    seed: int = 0,
    *,
    freq: str = "D",
    holes: bool = False,
    name: str = "synthetic",
) -> Panel:
    """Random-walk OHLCV panel; ``holes=True`` blanks a few bars (NaN) of one asset."""
    rng = np.random.default_rng(seed)
    lr = rng.normal(0.0003, 0.015, (n_bars, n_assets))
    close = 50.0 * np.exp(np.cumsum(lr, axis=0))
    open_ = close * np.exp(rng.normal(0, 0.004, close.shape))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, close.shape))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, close.shape))
    volume = rng.uniform(1e5, 1e6, close.shape)
    if holes:
        for arr in (open_, high, low, close, volume):
            arr[n_bars // 2 : n_bars // 2 + 3, 0] = np.nan
    start = np.datetime64("2015-01-01T00:00", "ns")
    step = np.timedelta64(1, "D") if freq == "D" else np.timedelta64(1, "m")
    dates = start + np.arange(n_bars) * step
    return Panel(
        dates=dates,
        symbols=tuple(f"S{j}" for j in range(n_assets)),
        fields={"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        meta={"name": name},
    )


def perturb_after(panel: Panel, row: int, seed: int = 99) -> Panel:
    """The same panel with every price and volume after ``row`` multiplied by random factors."""
    rng = np.random.default_rng(seed)
    factor = np.exp(rng.normal(0, 0.05, panel.shape))
    factor[: row + 1] = 1.0
    fields = {k: np.asarray(v) * factor for k, v in panel.fields.items()}
    fields["high"] = np.maximum(fields["high"], np.maximum(fields["open"], fields["close"]))
    fields["low"] = np.minimum(fields["low"], np.minimum(fields["open"], fields["close"]))
    return panel.replace(fields=fields)


@pytest.fixture
def synth():
    """Builder of synthetic panels: ``synth(n_bars, n_assets, seed, ...)``."""
    return make_panel


@pytest.fixture
def perturb():
    """Builder of a panel perturbed after a row: ``perturb(panel, row)``."""
    return perturb_after
