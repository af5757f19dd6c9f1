"""Experiment protocol, result container and the name -> experiment registry."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from quantrl.backtest.result import BacktestResult
from quantrl.errors import ConfigError
from quantrl.experiments.claims import Claim


@dataclass
class ExperimentResult:
    """What an experiment hands back: a results table, backtests for the tear sheet and notes."""

    table: pd.DataFrame
    backtests: dict[str, BacktestResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    windows: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """Named date windows (first, last) used, e.g. ``{"train": ..., "test": ...}``."""
    measurements: dict[str, float] = field(default_factory=dict)
    """This seed's value of each measurement the study's claims test (name -> number)."""


@runtime_checkable
class Experiment(Protocol):
    """A reproducible study: its paper's ``claims`` and ``run(out_dir, fast=, seed=)`` for one seed."""

    name: str
    title: str
    claims: tuple[Claim, ...]

    def run(self, out_dir: Path, *, fast: bool, seed: int) -> ExperimentResult:
        """Run the study and return its table, backtests and notes."""
        ...


EXPERIMENTS: dict[str, tuple[str, str]] = {
    "market_impact": ("quantrl.experiments.market_impact", "MarketImpactExperiment"),
    "sharpe_portfolio": ("quantrl.experiments.sharpe_portfolio", "SharpePortfolioExperiment"),
    "esg_drl": ("quantrl.experiments.esg_drl", "ESGDRLExperiment"),
    "pairs_dqn": ("quantrl.experiments.pairs_dqn", "PairsDQNExperiment"),
    "imitation": ("quantrl.experiments.imitation", "ImitationExperiment"),
    "macro_hft": ("quantrl.experiments.macro_hft", "MacroHFTExperiment"),
}
"""Experiment name -> (module, class); modules are imported only when the experiment is used."""


def list_experiments() -> list[str]:
    """Names of the registered experiments."""
    return sorted(EXPERIMENTS)


def get_experiment(name: str) -> Experiment:
    """Instantiate the experiment registered as ``name``."""
    if name not in EXPERIMENTS:
        raise ConfigError(
            f"unknown experiment {name!r}; choose from {', '.join(list_experiments())}"
        )
    module, cls = EXPERIMENTS[name]
    return getattr(importlib.import_module(module), cls)()


__all__ = ["EXPERIMENTS", "Experiment", "ExperimentResult", "get_experiment", "list_experiments"]
