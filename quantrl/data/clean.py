"""Explicit repairs a caller asks for (never applied silently): forward-fill and gap counts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from quantrl.data.panel import Panel

ZERO_WHEN_MISSING = ("volume",)


def _ffill_columns(values: np.ndarray, limit: int | None) -> tuple[np.ndarray, int]:
    t, n = values.shape
    valid = ~np.isnan(values)
    idx = np.where(valid, np.arange(t)[:, None], -1)
    last = np.maximum.accumulate(idx, axis=0)
    fillable = (~valid) & (last >= 0)
    if limit is not None:
        fillable &= (np.arange(t)[:, None] - last) <= limit
    out = values.copy()
    rows, cols = np.nonzero(fillable)
    out[rows, cols] = values[last[rows, cols], cols]
    return out, int(rows.size)


def gap_counts(panel: Panel, field: str = "close") -> dict[str, int]:
    """Per symbol, bars missing strictly between its first and last bar (holes, not listings)."""
    values = panel[field]
    out: dict[str, int] = {}
    for j, sym in enumerate(panel.symbols):
        valid = np.flatnonzero(~np.isnan(values[:, j]))
        if valid.size:
            holes = int(valid[-1] - valid[0] + 1 - valid.size)
            if holes:
                out[sym] = holes
    return out


def forward_fill(
    panel: Panel, *, fields: Sequence[str] | None = None, limit: int | None = None
) -> tuple[Panel, int]:
    """Fill missing bars from the last bar of the same symbol (never before its first bar).

    Prices carry the last value; volume of a filled bar is 0 (nothing traded). Returns the new
    panel and the number of bars filled (counted on ``close`` when present).
    """
    names = list(fields) if fields is not None else list(panel.fields)
    new_fields = dict(panel.fields)
    reference = "close" if "close" in names else names[0]
    mask_ref = np.isnan(panel[reference])
    filled_ref = 0
    for name in names:
        if name in ZERO_WHEN_MISSING:
            continue
        new_fields[name], count = _ffill_columns(np.array(panel[name]), limit)
        if name == reference:
            filled_ref = count
    for name in names:
        if name in ZERO_WHEN_MISSING:
            vol = np.array(panel[name])
            now_present = mask_ref & ~np.isnan(new_fields[reference])
            vol[now_present & np.isnan(vol)] = 0.0
            new_fields[name] = vol
    return panel.replace(fields=new_fields), filled_ref
