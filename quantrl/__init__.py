"""quantrl: quantitative trading research on one market-data panel."""

from __future__ import annotations

from quantrl.data import Panel, load_market
from quantrl.errors import ConfigError, DataError, FormulaError, JobError, QuantRLError

__all__ = [
    "ConfigError",
    "DataError",
    "FormulaError",
    "JobError",
    "Panel",
    "QuantRLError",
    "load_market",
]
__version__ = "0.1.0"
