"""Panel <-> bytes (npz, no pickle) for the disk cache and checkpoints."""

from __future__ import annotations

import io
import json

import numpy as np

from quantrl.data.panel import Panel
from quantrl.errors import DataError


def panel_to_bytes(panel: Panel) -> bytes:
    """Serialise a panel to npz bytes (arrays only, metadata as JSON)."""
    arrays: dict[str, np.ndarray] = {
        "dates": panel.dates.view("int64"),
        "symbols": np.asarray(panel.symbols, dtype=np.str_),
    }
    for i, values in enumerate(panel.fields.values()):
        arrays[f"field_{i}"] = values
    for i, values in enumerate(panel.extras.values()):
        arrays[f"extra_{i}"] = values
    header = {
        "fields": list(panel.fields),
        "extras": list(panel.extras),
        "warmup": panel.warmup,
        "meta": dict(panel.meta),
    }
    arrays["header"] = np.frombuffer(json.dumps(header, default=str).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def panel_from_bytes(data: bytes) -> Panel:
    """Inverse of :func:`panel_to_bytes`; raises DataError when the bytes are not a panel."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            header = json.loads(npz["header"].tobytes().decode())
            fields = {n: npz[f"field_{i}"] for i, n in enumerate(header["fields"])}
            extras = {n: npz[f"extra_{i}"] for i, n in enumerate(header["extras"])}
            dates = npz["dates"].view("datetime64[ns]")
            symbols = tuple(str(s) for s in npz["symbols"])
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"not a serialised panel: {exc}", rule="corrupt file") from exc
    return Panel(dates, symbols, fields, extras, warmup=header["warmup"], meta=header["meta"])
