"""``quantrl/ESGPortfolio-v0``: Portfolio-v0 in an ESG-regulated market, ESG scores observed.

ESG quality scores ``q_i,t`` (higher is better: ``100 - `` the Sustainalytics risk score, see
``quantrl.data.providers.esg``) are visible from their publication date on: the Yahoo snapshot
of 2021-03-03, then the Sustainalytics one (about 2023-06-30). Episodes start once a score is
published; a symbol without a score yet counts at the market mean (neutral). ``esg_static=True``
uses each symbol's latest snapshot on every date instead, which looks ahead (a
``LookAheadWarning`` is emitted).

Regulated market, per step, with ``w_i`` the risky target weights of the action (held over the
step), ``q_i`` the scores at the fill bar and ``r`` the step's net return of the account:

* portfolio score ``s = sum_i w_i q_i / sum_i w_i``, market score ``m = mean_i q_i``;
* grant ``g = gamma * max(r, 0) * max(s - m, 0) / m``;
* tax ``tau = theta * max(r, 0) * 1[s < m]``;
* regulated return ``r' = r + g - tau``: ``(g - tau) * V_{t-1}`` is paid into (or out of) cash, so
  ``r'`` drives wealth and the reward. Nothing is paid when ``sum_i w_i <= 0`` (all cash).

The observation is Portfolio-v0's with one more point feature, ``esg_quality`` = ``q / 100``.
``info["esg_adjustment"]`` is ``g - tau``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quantrl.data.panel import Panel
from quantrl.data.providers.esg import attach_esg
from quantrl.envs.config import ESGConfig, slot
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.errors import DataError

ESG_SPLITS: dict[str, tuple[str, str]] = {
    "dow30": ("2022-07-01", "2023-01-01"),
    "sp500": ("2016-07-01", "2017-01-01"),
}
"""Default (valid_start, test_start): dow30 scores exist from 2021-03-03 only (sp500 data end in
2018, before any snapshot, so it needs ``esg_static=True``)."""


def fill_missing_scores(quality: np.ndarray) -> np.ndarray:
    """Scores with a missing value replaced by that row's mean of published scores (else NaN)."""
    q = np.asarray(quality, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        count = np.isfinite(q).sum(axis=1, keepdims=True)
        mean = np.where(
            count > 0, np.nansum(q, axis=1, keepdims=True) / np.maximum(count, 1), np.nan
        )
    return np.where(np.isfinite(q), q, mean)


class ESGPortfolioEnv(PortfolioEnv):
    """Portfolio allocation with ESG scores and an ESG grant/tax (``ESGPortfolio-v0``).

    Takes Portfolio-v0's settings plus ``esg=ESGConfig(...)`` or the flat ``gamma``, ``theta``,
    ``esg_static``, ``esg_sources``.
    """

    default_splits = ESG_SPLITS
    info_extra = "esg_adjustment"
    CONFIG = {**PortfolioEnv.CONFIG, "esg": slot(ESGConfig())}

    def __init__(
        self, market: str | Panel = "dow30", *, episode_length: int | None = 63, **kwargs: Any
    ) -> None:
        super().__init__(market, episode_length=episode_length, **kwargs)

    def _configure(self) -> None:
        super()._configure()
        self.esg_config: ESGConfig = self.config["esg"]
        self.gamma = self.esg_config.gamma
        self.theta = self.esg_config.theta
        self.esg_static = self.esg_config.static
        self.esg_sources = self.esg_config.sources

    def _prepare_panel(self, seg: Panel) -> Panel:
        if "esg_quality" in seg.extras:
            return seg

        kw: dict[str, Any] = {"static": self.esg_static}
        if self.esg_sources is not None:
            kw["sources"] = self.esg_sources
        return attach_esg(seg, **kw)

    def _quality_array(self, seg: Panel) -> np.ndarray:
        q = fill_missing_scores(seg["esg_quality"])
        return np.ascontiguousarray(np.nan_to_num(q, nan=1.0))

    def _extra_point_features(self, seg: Panel) -> tuple[np.ndarray | None, tuple[str, ...]]:
        q = fill_missing_scores(seg["esg_quality"]) / 100.0
        return np.nan_to_num(q, nan=0.0).astype(np.float32)[None], ("esg_quality",)

    def _first_allowed_row(self, seg: Panel) -> int:
        published = np.flatnonzero(np.isfinite(np.asarray(seg["esg_quality"])).any(axis=1))
        if published.size == 0:
            raise DataError(
                f"no ESG score is published within the {self.split} split "
                f"({str(seg.dates[0])[:10]}..{str(seg.dates[-1])[:10]}); scores start "
                "2021-03-03 (pass esg_static=True to use a snapshot on every date, which looks "
                "ahead)",
                rule="esg missing",
            )
        return int(published[0])

    def _write_params(self, params: np.ndarray) -> None:
        super()._write_params(params)
        p = params[0]
        p["esg"] = 1
        p["gamma"] = self.gamma
        p["theta"] = self.theta


__all__ = ["ESG_SPLITS", "ESGPortfolioEnv", "fill_missing_scores"]
