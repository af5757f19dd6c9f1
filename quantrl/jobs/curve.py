"""A mining job's learning curve: the pool after each chunk, on training and validation.

After every chunk the runner records one point: tokens spent, formulas offered, pool size, the
pool's training objective and its combined factor's validation IC and RankIC. The points travel
in the checkpoint (a resumed run's curve equals an uninterrupted run's under a step budget) and,
when the run ends, are written beside the pool as ``curve.csv`` and drawn as ``curve.png``: a
training objective that keeps rising while the validation RankIC stays flat is more search
fitting the training years, not finding more that holds.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from quantrl.data.cache import atomic_write_bytes
from quantrl.errors import JobError
from quantrl.evaluation.report import figure_png

__all__ = [
    "CURVE_FILES",
    "CURVE_KEYS",
    "curve_figure",
    "curve_from_state",
    "curve_point",
    "write_curve",
]

CURVE_KEYS = ("steps", "formulas", "pool", "train_ic", "valid_ic", "valid_rank_ic")
"""The fields of one point, in the CSV's column order."""
CURVE_FILES = ("curve.csv", "curve.png")
"""The files ``write_curve`` writes into a job's output folder."""


def curve_point(info: Mapping[str, float]) -> dict[str, float]:
    """One point of the curve from a chunk's figures (``CURVE_KEYS``, floats; NaN kept)."""
    missing = [k for k in CURVE_KEYS if k not in info]
    if missing:
        raise JobError(f"a learning-curve point lacks {', '.join(missing)}")
    return {k: float(info[k]) for k in CURVE_KEYS}


def curve_from_state(raw: Any) -> list[dict[str, float]]:
    """The curve a checkpoint holds (absent in older checkpoints: empty); JobError when it is not
    a list of points with every field a number."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise JobError(f"checkpoint curve is a {type(raw).__name__}, not a list of points")
    points = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != set(CURVE_KEYS):
            raise JobError(f"checkpoint curve point {i} does not hold exactly {CURVE_KEYS}")
        bad = [k for k in CURVE_KEYS if isinstance(item[k], bool) or not _is_number(item[k])]
        if bad:
            raise JobError(f"checkpoint curve point {i}: {', '.join(bad)} not a number")
        points.append(curve_point(item))
    return points


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def _csv(curve: Sequence[Mapping[str, float]]) -> bytes:
    out = io.StringIO()
    out.write(",".join(CURVE_KEYS) + "\n")
    for p in curve:
        out.write(",".join(_cell(k, p[k]) for k in CURVE_KEYS) + "\n")
    return out.getvalue().encode()


def _cell(key: str, value: float) -> str:
    if not math.isfinite(value):
        return ""
    return str(int(value)) if key in ("steps", "formulas", "pool") else repr(float(value))


def curve_figure(
    curve: Sequence[Mapping[str, float]], title: str = "", *, kept_at: float | None = None
) -> Figure:
    """The pool's training objective and validation IC / RankIC against formulas offered
    (``kept_at``: a dotted line where the pool the job kept was taken)."""
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    x = [p["formulas"] for p in curve]
    ax.plot(x, [p["train_ic"] for p in curve], color="black", lw=1.8, label="train objective")
    ax.plot(x, [p["valid_ic"] for p in curve], color="#1f77b4", lw=1.2, label="valid IC")
    ax.plot(x, [p["valid_rank_ic"] for p in curve], color="#d62728", lw=1.2, label="valid RankIC")
    ax.axhline(0.0, color="grey", lw=0.5)
    if kept_at is not None:
        ax.axvline(kept_at, color="#2ca02c", lw=1.0, ls=":", label="pool kept")
    ax.set_xlabel("formulas offered")
    ax.set_ylabel("pool's combined factor")
    ax.set_title(title or "The pool during the search")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    return fig


def write_curve(
    curve: Sequence[Mapping[str, float]],
    folder: str | Path,
    title: str = "",
    *,
    kept_at: float | None = None,
) -> tuple[Path, Path | None]:
    """Write ``curve.csv`` (and ``curve.png`` when there are points) into ``folder``, each
    atomically; returns their paths (None for a figure not drawn). ``kept_at``: formulas
    offered when the kept pool was taken (early stopping), marked on the figure."""
    out = Path(folder)
    csv_path = out / CURVE_FILES[0]
    atomic_write_bytes(csv_path, _csv(curve))
    if not curve:
        return csv_path, None
    png_path = out / CURVE_FILES[1]
    atomic_write_bytes(png_path, figure_png(curve_figure(curve, title, kept_at=kept_at)))
    return csv_path, png_path
