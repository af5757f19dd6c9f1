"""Market data layer: the Panel, providers (bundled, files, Yahoo), cache and validation."""

from __future__ import annotations

from quantrl.data.derived import with_vwap_proxy
from quantrl.data.loader import load_benchmark, load_market
from quantrl.data.panel import Panel

__all__ = ["Panel", "load_benchmark", "load_market", "with_vwap_proxy"]
