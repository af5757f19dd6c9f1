"""Default train/valid/test date splits of the bundled markets, and picking one split by name."""

from __future__ import annotations

from typing import Literal

from quantrl.data.panel import Panel
from quantrl.errors import ConfigError

SplitName = Literal["train", "valid", "test", "all"]

# (valid_start, test_start) per bundled market: train < valid_start <= valid < test_start <= test.
DEFAULT_SPLITS: dict[str, tuple[str, str]] = {
    "dow30": ("2019-01-01", "2021-01-01"),
    "sp500": ("2016-07-01", "2017-01-01"),
    "djia": ("2019-01-01", "2021-01-01"),
}


def split_dates(market: str) -> tuple[str, str]:
    """(valid_start, test_start) of a bundled market; ConfigError when it has no default split."""
    try:
        return DEFAULT_SPLITS[market]
    except KeyError:
        raise ConfigError(
            f"no default split dates for market {market!r} (known: {', '.join(DEFAULT_SPLITS)}); "
            "pass explicit dates with panel.split(valid_start, test_start)"
        ) from None


def market_split(
    panel: Panel,
    split: SplitName,
    *,
    market: str | None = None,
    valid_start: str | None = None,
    test_start: str | None = None,
    warmup: int = 0,
) -> Panel:
    """One segment of ``panel`` by name ("all" = the whole panel).

    Split dates default to the market's ``DEFAULT_SPLITS`` (``market`` defaults to the panel's
    name); ``valid_start`` / ``test_start`` override them. Valid and test carry ``warmup`` rows of
    history before their start (see ``Panel.split``).
    """
    if split == "all":
        return panel
    if split not in ("train", "valid", "test"):
        raise ConfigError(f"split must be train, valid, test or all, got {split!r}")
    if valid_start is None or test_start is None:
        default_valid, default_test = split_dates(market or panel.name)
        valid_start = valid_start or default_valid
        test_start = test_start or default_test
    train, valid, test = panel.split(valid_start, test_start, warmup=warmup)
    return {"train": train, "valid": valid, "test": test}[split]
