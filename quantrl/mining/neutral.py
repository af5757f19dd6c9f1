"""Per-date neutralisation of factors against risk exposures (style-neutral alphas).

A factor's cross-section on date t is regressed on an intercept and k exposures (for example
log price, log dollar volume and volatility, the size and risk styles whose premia flip sign
from one regime to the next) over the cells where the factor and every exposure are finite; the
residual is what the factor says beyond those styles. Exposures use the same per-date transform
as the factors (z-score or z-scored rank), and the residual is standardised again, so a
neutralised factor has mean 0, standard deviation 1 and zero correlation with each exposure on
every date. Everything on date t reads only date t's values: no look-ahead.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from quantrl.alpha.engine import EvalCache, evaluate
from quantrl.alpha.parser import parse
from quantrl.errors import ConfigError, FormulaError
from quantrl.kernels.projection import RIDGE, neutralize_rows_into
from quantrl.mining.transforms import transform_rows

__all__ = ["DEFAULT_STYLE_EXPOSURES", "Exposures", "exposure_formulas", "neutralize_rows"]

#: Log price, log 20-day mean dollar volume (size) and 60-day volatility of daily returns.
DEFAULT_STYLE_EXPOSURES: tuple[str, ...] = (
    "Log($close)",
    "Log(Mean(Mul($close,$volume),20))",
    "Std(Div($close,Ref($close,1)),60)",
)


def exposure_formulas(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"styles"``, ``"none"`` or a list of exposure formulas -> canonical formulas."""
    if isinstance(value, str):
        named = {"styles": DEFAULT_STYLE_EXPOSURES, "none": ()}
        if value not in named:
            raise ConfigError(
                f"neutralize must be 'styles', 'none' or a list of formulas, got {value!r}"
            )
        return named[value]
    out = []
    for f in value:
        try:
            out.append(str(parse(str(f))))
        except FormulaError as exc:
            raise ConfigError(f"neutralize: bad exposure formula {f!r}: {exc}") from exc
    return tuple(out)


class Exposures:
    """The exposure design of one panel: (T, k + 1, N) with an intercept, 0 where missing.

    Built once per panel: ``ok`` marks the cells where every exposure is finite, ``design``
    holds the intercept and the transformed exposures there, ``gram`` the design's per-date
    normal matrix (plus a 1e-9 ridge) over ``ok`` and ``gram_inv`` its inverse, the residual maker
    ``I - X (X'X)^-1 X'`` in factored form that every candidate factor reuses.
    """

    def __init__(
        self,
        formulas: Sequence[str],
        panel: Any,
        *,
        transform: str = "zscore",
        cache: EvalCache | None = None,
    ) -> None:

        if not formulas:
            raise ConfigError("neutralisation needs at least one exposure formula")
        memo = cache if cache is not None else EvalCache(max_bytes=128 << 20)
        raw = [np.asarray(evaluate(f, panel, cache=memo), dtype=np.float64) for f in formulas]
        self.formulas = tuple(str(f) for f in formulas)
        self.ok = np.ascontiguousarray(np.logical_and.reduce([np.isfinite(v) for v in raw]))
        cols = [np.ones(self.ok.shape)] + [transform_rows(v, transform) for v in raw]
        self.design = np.ascontiguousarray(np.stack(cols, axis=1) * self.ok[:, None, :])
        k = self.design.shape[1]
        gram = np.einsum("tkn,tjn->tkj", self.design, self.design) + RIDGE * np.eye(k)
        self.gram = np.ascontiguousarray(gram)
        self.gram_inv = np.ascontiguousarray(np.linalg.inv(gram))

    def every(self, step: int) -> Exposures:
        """The same design on every ``step``-th date from the first (what a pool scoring every
        ``step``-th date neutralises against)."""
        out = copy.copy(self)
        out.ok = np.ascontiguousarray(self.ok[::step])
        out.design = np.ascontiguousarray(self.design[::step])
        out.gram = np.ascontiguousarray(self.gram[::step])
        out.gram_inv = np.ascontiguousarray(self.gram_inv[::step])
        return out


def neutralize_rows(
    values: np.ndarray,
    exposures: Exposures,
    transform: str = "zscore",
    *,
    out: np.ndarray | None = None,
    universe: np.ndarray | None = None,
) -> np.ndarray:
    """Transform a factor per date, remove its exposures and re-standardise (0 where missing).

    On date t the regression uses the cells where the factor and every exposure are finite. A
    date where the factor is finite wherever the exposures are reuses the precomputed
    ``gram_inv``; a date where the factor has extra missing cells is solved exactly over its
    own cells; both give the least-squares residual of those cells (with the 1e-9 ridge). A
    date whose factor the exposures explain to rounding (residual sum of squares <= 1e-10 of
    the factor's) is all 0. With ``universe``, cells outside it are 0; ``out`` receives the
    result (it may not be ``values``).
    """
    x = np.ascontiguousarray(values, dtype=np.float64)
    if x.shape != exposures.ok.shape:
        raise ConfigError(
            f"factor shape {x.shape} differs from the exposures' {exposures.ok.shape}"
        )
    z = transform_rows(x, transform, out=out)
    return neutralize_rows_into(
        x, z, exposures.ok, exposures.design, exposures.gram, exposures.gram_inv, z, universe
    )
