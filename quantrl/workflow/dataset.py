"""The workflow's data: the panel, its feature tensor, the label by split and the learning rows.

Features are computed once on the whole panel: row t of every formula reads rows <= t only, so
cutting rows by date afterwards is free of look-ahead, and valid/test rows get their full history.
The label is the forward return computed inside each split (``Panel.forward_returns`` of the
split's own panel), so a train label never reads a valid or test price: the last ``horizon`` rows
of every split have no label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quantrl.alpha.expr import Expr
from quantrl.alpha.feature_matrix import feature_array, feature_formulas, prepare_panel
from quantrl.data.loader import load_market
from quantrl.data.panel import Panel
from quantrl.data.providers.bundled import DATASETS
from quantrl.data.splits import split_dates
from quantrl.errors import ConfigError
from quantrl.mining.pool import AlphaPool
from quantrl.workflow.spec import WorkflowSpec

__all__ = [
    "SPLITS",
    "WorkflowData",
    "build_data",
    "learn_rows",
    "load_panel",
    "resolve_features",
    "split_dates_of",
    "split_label",
]

SPLITS: tuple[str, ...] = ("train", "valid", "test")


@dataclass(frozen=True, eq=False)
class WorkflowData:
    """Panel, raw feature tensor (dates, symbols, features), label and split row bounds."""

    panel: Panel
    names: tuple[str, ...]
    formulas: tuple[str, ...]
    features: np.ndarray
    label: np.ndarray
    tradable: np.ndarray
    bounds: dict[str, tuple[int, int]]
    valid_start: str
    test_start: str


def load_panel(spec: WorkflowSpec) -> Panel:
    """The [data] panel: market, date range and symbols (no vwap yet).

    A market that is neither a bundled name nor ``yahoo:...`` is a file path, relative to the
    spec file.
    """
    d = spec.data
    bundled_or_remote = d.market in DATASETS or d.market.lower().startswith("yahoo:")
    source = d.market if bundled_or_remote else str(spec.path(d.market))
    panel = load_market(source, d.start, d.end, symbols=d.symbols or None)
    if d.max_symbols and d.max_symbols < panel.n_symbols:
        panel = panel.select(list(panel.symbols[: d.max_symbols]))
    return panel


def resolve_features(spec: WorkflowSpec) -> tuple[tuple[str, ...], tuple[Expr, ...]]:
    """(names, formula trees) of the [features] table; a pool file gives its members' formulas."""
    f = spec.features
    if f.formulas:
        return feature_formulas(list(f.formulas), f.names or None)
    assert f.set is not None
    if f.set.startswith("pool:"):
        path = spec.path(f.set.removeprefix("pool:"))
        members = AlphaPool.read(path)["members"]
        if not members:
            raise ConfigError(f"pool file {path} has no members")
        return feature_formulas([str(m["formula"]) for m in members])
    return feature_formulas(f.set.lower())


def split_dates_of(spec: WorkflowSpec) -> tuple[str, str]:
    """(valid_start, test_start): the spec's, else the bundled market's defaults."""
    valid_start, test_start = spec.data.valid_start, spec.data.test_start
    if valid_start is None or test_start is None:
        default_valid, default_test = split_dates(spec.data.market)
        valid_start = valid_start or default_valid
        test_start = test_start or default_test
    return valid_start, test_start


def split_label(
    panel: Panel, valid_start: str, test_start: str, horizon: int, field: str = "close"
) -> tuple[np.ndarray, dict[str, tuple[int, int]]]:
    """(label (dates, symbols), split row bounds): forward returns computed inside each split."""
    parts = panel.split(valid_start, test_start)
    label = np.vstack([p.forward_returns(horizon, field=field) for p in parts])
    bounds: dict[str, tuple[int, int]] = {}
    row = panel.warmup
    for name, part in zip(SPLITS, parts, strict=True):
        bounds[name] = (row, row + part.n_dates)
        row += part.n_dates
    full = np.full(panel.shape, np.nan)
    full[panel.warmup :] = label
    return full, bounds


def build_data(
    spec: WorkflowSpec,
    panel: Panel | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WorkflowData:
    """Load the panel (or take ``panel``), add the vwap proxy if asked, evaluate the features
    and the split labels. ``progress(done, total)`` is called after each formula.
    """
    panel = load_panel(spec) if panel is None else panel
    names, exprs = resolve_features(spec)
    vwap = None if spec.data.vwap == "none" else spec.data.vwap
    panel = prepare_panel(panel, exprs, vwap)
    valid_start, test_start = split_dates_of(spec)
    label, bounds = split_label(
        panel, valid_start, test_start, spec.label.horizon, spec.label.field
    )
    x = feature_array(
        panel,
        list(exprs),
        warmup_rows=0,
        dtype=np.float32,
        progress=None if progress is None else lambda k: progress(k, len(exprs)),
    )
    return WorkflowData(
        panel=panel,
        names=names,
        formulas=tuple(str(e) for e in exprs),
        features=x,
        label=label,
        tradable=np.isfinite(panel["close"]),
        bounds=bounds,
        valid_start=valid_start,
        test_start=test_start,
    )


def learn_rows(
    x: np.ndarray, y: np.ndarray, rows: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, features) and (rows,) of one split's cells whose (normalised) label is finite."""
    a, b = rows
    keep = np.isfinite(y[a:b])
    return x[a:b][keep], y[a:b][keep]
