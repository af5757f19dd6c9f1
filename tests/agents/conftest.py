"""Small synthetic panels for the agent tests."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.data.panel import Panel


def synthetic_panel(
    n_bars: int = 300, n_assets: int = 4, seed: int = 0, *, minute: bool = False
) -> Panel:
    """Random-walk OHLCV panel named ``synthetic`` (daily, or minute bars)."""
    rng = np.random.default_rng(seed)
    lr = rng.normal(0.0003, 0.015, (n_bars, n_assets))
    close = 50.0 * np.exp(np.cumsum(lr, axis=0))
    open_ = close * np.exp(rng.normal(0, 0.004, close.shape))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, close.shape))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, close.shape))
    volume = rng.uniform(1e5, 1e6, close.shape)
    step = np.timedelta64(1, "m") if minute else np.timedelta64(1, "D")
    dates = np.datetime64("2015-01-01T00:00", "ns") + np.arange(n_bars) * step
    return Panel(
        dates=dates,
        symbols=tuple(f"S{j}" for j in range(n_assets)),
        fields={"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        meta={"name": "synthetic"},
    )


def perturb_after(panel: Panel, row: int, seed: int = 7) -> Panel:
    """The panel with every price/volume after ``row`` scaled by random factors (future changed)."""
    rng = np.random.default_rng(seed)
    factor = np.ones((panel.n_dates, panel.n_symbols))
    factor[row + 1 :] = np.exp(rng.normal(0, 0.05, factor[row + 1 :].shape))
    fields = {name: np.array(panel[name]) * factor for name in panel.field_names}
    return Panel(dates=panel.dates, symbols=panel.symbols, fields=fields, meta={"name": panel.name})


SPLIT = ("2015-08-01", "2015-10-01")
"""Split dates of the 300-bar daily synthetic panel (train ~212, valid 61, test ~27 rows)."""


@pytest.fixture(scope="session")
def make_synth():
    """The synthetic panel builder."""
    return synthetic_panel


@pytest.fixture(scope="session")
def perturb():
    """The future-perturbation helper."""
    return perturb_after


@pytest.fixture(scope="session")
def split_dates() -> tuple[str, str]:
    """Split dates of the synthetic panel."""
    return SPLIT


@pytest.fixture(scope="session")
def synth() -> Panel:
    """A 300-day, 4-asset synthetic panel."""
    return synthetic_panel()


@pytest.fixture(scope="session")
def small_env_kwargs() -> dict:
    """Env kwargs that keep observations small."""
    return {"window": 5, "vol_window": 5, "episode_length": 40}
