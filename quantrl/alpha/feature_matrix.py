"""Feature matrices: many formulas evaluated on one panel into a (date, symbol) x feature table.

``features`` returns a pandas frame with a (date, symbol) MultiIndex, date-major as Qlib's
``(datetime, instrument)`` frames, and one float64 column per feature; ``feature_array`` returns
the same values as a numpy (dates, symbols, features) array, the fast path models train on.
Formulas are Qlib's Alpha158 / Alpha360 sets by name, a list of formula strings or trees, or a
``{name: formula}`` mapping. Row t of every feature uses panel rows <= t only (``evaluate``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from quantrl.alpha.alpha158 import ALPHA158, ALPHA360
from quantrl.alpha.engine import EvalCache, evaluate
from quantrl.alpha.expr import Expr
from quantrl.alpha.parser import parse
from quantrl.data.derived import VWAP_PROXIES, with_vwap_proxy
from quantrl.errors import ConfigError

__all__ = ["FEATURE_SETS", "feature_array", "feature_formulas", "features", "prepare_panel"]

FEATURE_SETS: dict[str, tuple[tuple[str, str], ...]] = {
    "alpha158": ALPHA158,
    "alpha360": ALPHA360,
}
"""Named feature sets -> (name, formula) pairs in Qlib's order."""

FormulaInput = str | Sequence[str | Expr] | Mapping[str, str | Expr]


def feature_formulas(
    formulas: FormulaInput, names: Sequence[str] | None = None
) -> tuple[tuple[str, ...], tuple[Expr, ...]]:
    """(names, parsed trees) of a named set, a formula list or a ``{name: formula}`` mapping.

    Names default to Qlib's column names for a named set, the keys of a mapping, and each
    formula's canonical string for a list; an explicit ``names`` must match in length and be
    unique.
    """
    if isinstance(formulas, str):
        key = formulas.strip().lower()
        if key not in FEATURE_SETS:
            raise ConfigError(
                f"unknown feature set {formulas!r}; use one of {', '.join(FEATURE_SETS)} "
                "or pass a list of formulas"
            )
        pairs: list[tuple[str, str | Expr]] = list(FEATURE_SETS[key])
    elif isinstance(formulas, Mapping):
        pairs = [(str(k), v) for k, v in formulas.items()]
    else:
        pairs = [("", f) for f in formulas]
    if not pairs:
        raise ConfigError("no formulas given")
    exprs = tuple(parse(f) for _, f in pairs)
    if names is None:
        out = tuple(n or str(e) for (n, _), e in zip(pairs, exprs, strict=True))
    else:
        out = tuple(str(n) for n in names)
        if len(out) != len(exprs):
            raise ConfigError(f"{len(out)} names given for {len(exprs)} formulas")
    if len(set(out)) != len(out):
        dup = next(n for i, n in enumerate(out) if n in out[:i])
        raise ConfigError(f"feature name {dup!r} appears twice")
    return out, exprs


def prepare_panel(panel: Any, exprs: Sequence[Expr], vwap: str | None = None) -> Any:
    """The panel with a ``vwap`` proxy added when asked and needed; a clear error when missing.

    ``vwap=None`` uses the panel as it is; ``"proxy"`` (the typical price) or a method of
    ``quantrl.data.derived.VWAP_PROXIES`` adds a proxy when a formula reads ``$vwap`` and the
    panel has none (a panel's own vwap is always kept).
    """
    needs = any("vwap" in e.features for e in exprs)
    if vwap is not None:
        method = "typical" if vwap == "proxy" else vwap
        if method not in VWAP_PROXIES:
            raise ConfigError(
                f"vwap must be None, 'proxy' or one of {', '.join(VWAP_PROXIES)}, got {vwap!r}"
            )
        if needs and "vwap" not in panel:
            return with_vwap_proxy(panel, method)  # type: ignore[arg-type]
        return panel
    if needs and "vwap" not in panel:
        raise ConfigError(
            "the formulas read $vwap but the panel has no vwap field; pass vwap='proxy' to use "
            "the typical price (high+low+close)/3 as an explicit proxy"
        )
    return panel


def _start_row(panel: Any, warmup_rows: int | None) -> int:
    start = int(getattr(panel, "warmup", 0)) if warmup_rows is None else int(warmup_rows)
    if not 0 <= start < int(panel.n_dates):
        raise ConfigError(f"warmup_rows={warmup_rows} outside [0, {int(panel.n_dates) - 1}]")
    return start


def feature_array(
    panel: Any,
    formulas: FormulaInput,
    *,
    warmup_rows: int | None = None,
    vwap: str | None = None,
    dtype: Any = np.float64,
    cache: EvalCache | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Evaluate formulas on ``panel`` -> (dates, symbols, features) array of ``dtype``.

    The first ``warmup_rows`` rows (default ``panel.warmup``) are history: features read them
    but they are not returned. Formulas share one ``EvalCache`` (pass one to reuse it);
    ``progress(k)`` is called after each formula with the count done.
    """
    _, exprs = feature_formulas(formulas)
    source = prepare_panel(panel, exprs, vwap)
    start = _start_row(source, warmup_rows)
    memo = cache if cache is not None else EvalCache()
    out = np.empty((source.n_dates - start, source.n_symbols, len(exprs)), dtype=dtype)
    for k, expr in enumerate(exprs):
        out[:, :, k] = evaluate(expr, source, cache=memo)[start:]
        if progress is not None:
            progress(k + 1)
    return out


def features(
    panel: Any,
    formulas: FormulaInput,
    *,
    names: Sequence[str] | None = None,
    warmup_rows: int | None = None,
    vwap: str | None = None,
    dropna: bool = False,
    cache: EvalCache | None = None,
) -> pd.DataFrame:
    """Feature frame: a (date, symbol) MultiIndex, date-major, one float64 column per feature.

    Every (date, symbol) pair of the panel after ``warmup_rows`` is a row (``dropna=True``
    drops rows whose features are all NaN, e.g. a symbol without a bar). Column names follow
    ``feature_formulas``. ``feature_array`` gives the same values as a numpy array.
    """
    labels, _ = feature_formulas(formulas, names)
    values = feature_array(panel, formulas, warmup_rows=warmup_rows, vwap=vwap, cache=cache)
    start = _start_row(panel, warmup_rows)
    index = pd.MultiIndex.from_product(
        [pd.DatetimeIndex(panel.dates[start:]), list(panel.symbols)], names=["date", "symbol"]
    )
    frame = pd.DataFrame(values.reshape(-1, values.shape[2]), index=index, columns=list(labels))
    if dropna:
        frame = frame[frame.notna().any(axis=1)]
    return frame
