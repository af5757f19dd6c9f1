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

from collections.abc import Sequence
from typing import Any

import numpy as np

from quantrl.alpha.engine import EvalCache, evaluate
from quantrl.alpha.parser import parse
from quantrl.errors import ConfigError, FormulaError
from quantrl.mining.transforms import standardize_rows, transform_rows

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
    """The exposure design of one panel: (T, N, k + 1) with an intercept, 0 where missing."""

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
        self.ok = np.logical_and.reduce([np.isfinite(v) for v in raw])  # (T, N)
        cols = [np.ones(self.ok.shape)] + [transform_rows(v, transform) for v in raw]
        self.design = np.ascontiguousarray(np.stack(cols, axis=-1) * self.ok[..., None])
        self._gram = self._normal_matrix(self.ok)

    def _normal_matrix(self, mask: np.ndarray) -> np.ndarray:
        x = self.design * mask[..., None]
        k = x.shape[-1]
        return np.einsum("tnk,tnj->tkj", x, x) + 1e-9 * np.eye(k)

    def residual(self, z: np.ndarray, finite: np.ndarray) -> np.ndarray:
        """Per-date residual of ``z`` on the exposures over ``finite`` cells; NaN elsewhere.

        A date whose residual is at rounding level (the factor is a combination of the
        exposures there) gets a residual of 0, which standardises to 0 (no signal).
        """
        ok = finite & self.ok
        gram = self._gram if np.array_equal(ok, self.ok) else self._normal_matrix(ok)
        zz = np.where(ok, z, 0.0)
        rhs = np.einsum("tnk,tn->tk", self.design, zz)
        beta = np.linalg.solve(gram, rhs[..., None])[..., 0]
        res = zz - np.einsum("tnk,tk->tn", self.design, beta)
        # a date whose factor the exposures explain (to rounding) has nothing left: all 0
        explained = (res * res).sum(axis=1) <= 1e-10 * np.maximum((zz * zz).sum(axis=1), 1e-300)
        res[explained] = 0.0
        return np.where(ok, res, np.nan)


def neutralize_rows(
    values: np.ndarray, exposures: Exposures, transform: str = "zscore"
) -> np.ndarray:
    """Transform a factor per date, remove its exposures and re-standardise (0 where missing)."""

    x = np.asarray(values, dtype=np.float64)
    if x.shape != exposures.ok.shape:
        raise ConfigError(
            f"factor shape {x.shape} differs from the exposures' {exposures.ok.shape}"
        )
    return standardize_rows(exposures.residual(transform_rows(x, transform), np.isfinite(x)))
