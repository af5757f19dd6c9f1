"""Dataset summaries (symbols, dates, fields, missing share) for the CLI and the demo."""

from __future__ import annotations

from typing import Any

import numpy as np

from quantrl.data.loader import load_market
from quantrl.data.panel import Panel
from quantrl.data.providers.bundled import Dataset, list_datasets, read_table


def panel_summary(panel: Panel) -> dict[str, Any]:
    """One row describing a panel: size, span, fields and the share of missing bars."""
    close = panel["close"] if "close" in panel.fields else next(iter(panel.fields.values()))
    missing = float(np.isnan(close).mean()) if close.size else 0.0
    return {
        "name": panel.name,
        "symbols": panel.n_symbols,
        "dates": panel.n_dates,
        "start": str(panel.dates[0])[:16].replace("T", " ") if panel.n_dates else "",
        "end": str(panel.dates[-1])[:16].replace("T", " ") if panel.n_dates else "",
        "fields": len(panel.fields),
        "missing": missing,
        "repairs": len(panel.meta.get("cleaning", ())),
    }


def dataset_summary(dataset: Dataset, **load_kwargs: Any) -> dict[str, Any]:
    """Summary row of a bundled dataset: a loaded panel, or a table's rows and columns."""

    if dataset.kind == "panel":
        row = panel_summary(load_market(dataset.name, **load_kwargs))
    else:
        table = read_table(dataset.name)
        row = {
            "name": dataset.name,
            "symbols": table.height,
            "dates": 0,
            "start": "",
            "end": "",
            "fields": table.width,
            "missing": float(
                np.mean([table[c].null_count() / max(table.height, 1) for c in table.columns])
            ),
            "repairs": 0,
        }
    row.update(kind=dataset.kind, frequency=dataset.frequency)
    return row


def summarize_datasets(**load_kwargs: Any) -> list[dict[str, Any]]:
    """Load every bundled dataset and describe it (what ``make demo`` prints first)."""
    return [dataset_summary(d, **load_kwargs) for d in list_datasets()]
