"""WorkflowResult: predictions, signal metrics by split, the backtest and the stage timings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantrl.backtest.result import BacktestResult
from quantrl.display import format_number, format_percent, summary_html
from quantrl.errors import ConfigError
from quantrl.stats.ic import ICSummary
from quantrl.stats.performance import TrialSet
from quantrl.workflow.spec import WorkflowSpec

__all__ = ["WorkflowResult"]

_BACKTEST_ROWS = ("CAGR", "Sharpe ratio", "Max drawdown", "Annual volatility", "Turnover")


def _pct(value: float) -> str:
    return format_percent(value, 1)


def _num(value: float, digits: int = 4) -> str:
    return format_number(value, digits)


@dataclass(frozen=True, eq=False)
class WorkflowResult:
    """Outcome of ``run_workflow``.

    ``scores`` and ``label`` are (dates, symbols) over the whole panel (NaN where a symbol has no
    bar; ``label`` is the raw forward return computed inside each split); ``bounds`` maps each
    split to its [start, end) rows; ``ic`` its IC summary against the raw label; ``backtest`` is the
    top-k dropout run on the test split; ``timings`` seconds per stage; ``files`` what was written.
    """

    spec: WorkflowSpec
    dates: np.ndarray
    symbols: tuple[str, ...]
    feature_names: tuple[str, ...]
    scores: np.ndarray
    label: np.ndarray
    bounds: dict[str, tuple[int, int]]
    ic: dict[str, ICSummary]
    model: Any
    backtest: BacktestResult
    timings: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    trials: TrialSet | None = None

    def predictions(self, split: str | None = "test") -> pd.DataFrame:
        """Long frame (date, symbol, split, score, label) of the cells with a score."""
        names = list(self.bounds) if split is None else [split]
        frames = []
        for name in names:
            if name not in self.bounds:
                raise ConfigError(f"split must be one of {', '.join(self.bounds)}, got {name!r}")
            a, b = self.bounds[name]
            rows, cols = np.nonzero(np.isfinite(self.scores[a:b]))
            frames.append(
                pd.DataFrame(
                    {
                        "date": self.dates[a:b][rows],
                        "symbol": np.asarray(self.symbols, dtype=object)[cols],
                        "split": name,
                        "score": self.scores[a:b][rows, cols],
                        "label": self.label[a:b][rows, cols],
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def ic_table(self) -> pd.DataFrame:
        """IC, ICIR, RankIC, RankICIR, share of positive ICs and dates, one row per split."""
        rows = {name: summary.as_dict() for name, summary in self.ic.items()}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("split")

    def backtest_stats(self) -> pd.Series:
        """The test backtest's summary (``BacktestResult.stats``, deflated over ``trials``)."""
        return self.backtest.stats(self.trials)

    def _headline(self) -> dict[str, float]:
        test = self.ic.get("test")
        stats = self.backtest_stats()
        return {
            "ic": test.ic if test else math.nan,
            "rank_ic": test.rank_ic if test else math.nan,
            "icir": test.icir if test else math.nan,
            "cagr": float(stats.get("CAGR", math.nan)),
            "sharpe": float(stats.get("Sharpe ratio", math.nan)),
            "max_drawdown": float(stats.get("Max drawdown", math.nan)),
        }

    def _title(self) -> str:
        s = self.spec
        return (
            f"{s.name}: {s.features.set or f'{len(self.feature_names)} formulas'} + "
            f"{s.model.kind} on {s.data.market} ({len(self.symbols)} symbols)"
        )

    def __repr__(self) -> str:
        h = self._headline()
        s = self.spec.strategy
        return (
            f"WorkflowResult({self._title()}: test IC {_num(h['ic'])}, RankIC "
            f"{_num(h['rank_ic'])}, ICIR {_num(h['icir'], 3)}; top-{s.topk}/drop-{s.n_drop}: "
            f"annual return {_pct(h['cagr'])}, Sharpe {_num(h['sharpe'], 2)}, max drawdown "
            f"{_pct(h['max_drawdown'])}; {sum(self.timings.values()):.1f} s)"
        )

    def _repr_html_(self) -> str:
        """A summary table for Jupyter: IC by split and the test backtest."""
        rows = [
            (
                f"{name} IC / ICIR / RankIC",
                f"{_num(r['ic'])} / {_num(r['icir'], 3)} / {_num(r['rank_ic'])}",
            )
            for name, r in self.ic_table().iterrows()
        ]
        stats = self.backtest_stats()
        percent = ("CAGR", "Max drawdown", "Annual volatility")
        rows += [
            (f"test {k}", _pct(float(stats[k])) if k in percent else _num(float(stats[k]), 3))
            for k in _BACKTEST_ROWS
            if k in stats.index
        ]
        s = self.spec.strategy
        footer = (
            f"top-{s.topk} dropout ({s.n_drop} a day, fees {s.fees:g} per side) on the test split;"
            f" {sum(self.timings.values()):.1f} s"
        )
        return summary_html(self._title(), rows, footer)
