"""Qlib's data processors for a feature tensor and a label, in numpy, fitted on the train split.

Features are a (dates, symbols, features) array, labels a (dates, symbols) array; NaN marks a
missing value. The processors and the Qlib classes they follow (``qlib.data.dataset.processor``):

* feature ``norm="robust_zscore"`` -- ``RobustZScoreNorm(clip_outlier=True)``: centre by the
  train median, scale by ``(MAD + 1e-12) * 1.4826`` of the train rows (per feature, NaN skipped),
  clip to [-3, 3];
* ``"zscore"`` -- ``ZScoreNorm``: train mean and population std (ddof=0), a feature with zero std
  left as it is;
* ``"cs_zscore"`` / ``"cs_rank"`` -- ``CSZScoreNorm`` / ``CSRankNorm`` per date (see below);
* ``fillna=True`` -- ``Fillna``: NaN -> 0 after the norm;
* label ``"cs_zscore"`` -- ``CSZScoreNorm``: per date ``(y - mean) / std`` with ddof=1 (pandas'
  ``std``); ``"cs_rank"`` -- ``CSRankNorm``: per-date percentile rank (ties averaged, pandas
  ``rank(pct=True)``) minus 0.5, times 3.46.

Qlib's Alpha158 handler (0.9.x) defaults to no feature processor and
``DropnaLabel`` + ``CSZScoreNorm`` on the label; its LightGBM benchmark keeps those defaults.
What differs here: infinite feature values always become NaN first (Qlib's ``ProcessInf`` instead
fills them with the date's mean, and only where configured); a date whose label has fewer than two
values or no spread gets NaN labels, which ``DropnaLabel`` then drops (pandas would give NaN too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from quantrl.errors import ConfigError
from quantrl.kernels.cross_section import cs_rank_nb, cs_zscore_nb

__all__ = [
    "FEATURE_NORMS",
    "LABEL_NORMS",
    "FeatureProcessor",
    "cs_rank_norm",
    "cs_zscore_norm",
    "normalize_label",
]

FeatureNorm = Literal["none", "robust_zscore", "zscore", "cs_zscore", "cs_rank"]
LabelNorm = Literal["none", "cs_zscore", "cs_rank"]
FEATURE_NORMS: tuple[str, ...] = ("none", "robust_zscore", "zscore", "cs_zscore", "cs_rank")
LABEL_NORMS: tuple[str, ...] = ("none", "cs_zscore", "cs_rank")

_EPS = 1e-12
_MAD_SCALE = 1.4826
_RANK_SCALE = 3.46


def cs_zscore_norm(values: np.ndarray) -> np.ndarray:
    """Qlib's ``CSZScoreNorm`` of a (dates, symbols) array: per-date z-score, ddof=1."""
    return cs_zscore_nb(np.ascontiguousarray(values, dtype=np.float64))


def cs_rank_norm(values: np.ndarray) -> np.ndarray:
    """Qlib's ``CSRankNorm`` of a (dates, symbols) array: (pct rank - 0.5) * 3.46 per date."""
    ranks = cs_rank_nb(np.ascontiguousarray(values, dtype=np.float64))
    return (ranks - 0.5) * _RANK_SCALE


def normalize_label(label: np.ndarray, norm: str = "cs_zscore") -> np.ndarray:
    """A (dates, symbols) label normalised per date (``"none"``, ``"cs_zscore"``, ``"cs_rank"``)."""
    if norm not in LABEL_NORMS:
        raise ConfigError(f"label norm must be one of {', '.join(LABEL_NORMS)}, got {norm!r}")
    y = np.where(np.isfinite(label), label, np.nan)
    if norm == "cs_zscore":
        return cs_zscore_norm(y)
    if norm == "cs_rank":
        return cs_rank_norm(y)
    return y


def _train_rows(x: np.ndarray) -> np.ndarray:
    """(rows, features) view of a (dates, symbols, features) array."""
    return x.reshape(-1, x.shape[-1])


@dataclass
class FeatureProcessor:
    """Feature norm (fitted on the train split) followed by an optional NaN -> 0 fill."""

    norm: str = "none"
    fillna: bool = False
    clip: float = 3.0
    center: np.ndarray | None = field(default=None, repr=False)
    scale: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.norm not in FEATURE_NORMS:
            raise ConfigError(
                f"feature norm must be one of {', '.join(FEATURE_NORMS)}, got {self.norm!r}"
            )

    def fit(self, x_train: np.ndarray) -> FeatureProcessor:
        """Learn the centre and scale of each feature from train rows (robust_zscore, zscore)."""
        rows = _train_rows(np.where(np.isfinite(x_train), x_train, np.nan))
        if self.norm == "robust_zscore":
            self.center = np.nanmedian(rows, axis=0).astype(np.float64)
            mad = np.nanmedian(np.abs(rows - self.center.astype(rows.dtype)), axis=0)
            self.scale = (mad.astype(np.float64) + _EPS) * _MAD_SCALE
        elif self.norm == "zscore":
            self.center = np.nanmean(rows, axis=0, dtype=np.float64)
            std = np.nanstd(rows, axis=0, dtype=np.float64)
            self.center = np.where(std == 0, 0.0, self.center)
            self.scale = np.where(std == 0, 1.0, std)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Processed copy of a (dates, symbols, features) array (same dtype); inf becomes NaN."""
        out = np.where(np.isfinite(x), x, np.nan).astype(x.dtype, copy=False)
        if self.norm in ("robust_zscore", "zscore"):
            if self.center is None or self.scale is None:
                raise ConfigError(f"FeatureProcessor({self.norm!r}) must be fitted before use")
            out -= self.center.astype(out.dtype)
            out /= self.scale.astype(out.dtype)
            if self.norm == "robust_zscore":
                np.clip(out, -self.clip, self.clip, out=out)
        elif self.norm in ("cs_zscore", "cs_rank"):
            per_date = cs_zscore_norm if self.norm == "cs_zscore" else cs_rank_norm
            for k in range(out.shape[-1]):
                out[..., k] = per_date(out[..., k])
        if self.fillna:
            np.nan_to_num(out, copy=False, nan=0.0)
        return out
