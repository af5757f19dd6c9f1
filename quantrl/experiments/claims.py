"""A paper's claims as data, and their verdicts from measurements over seeds.

A study declares each claim of the paper it reproduces as a ``Claim``: the claim in words, the
measurement that tests it (one number per seed, e.g. the test Sharpe ratio of the agent) and,
when it compares two methods, the measurement of the other one (e.g. the rule's Sharpe ratio on
the same seed), with the direction the paper claims. ``verdict_table`` turns the measurements of
several seeds into the mean, its confidence interval and a verdict that follows from the CI
alone: ``reproduced`` when the whole interval lies on the claimed side, ``not reproduced``
otherwise (the detail says whether the interval contradicts the claim or contains no effect),
``not testable`` when the bundled data cannot test it (with the reason).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.stats as sps

from quantrl.errors import ConfigError, DataError
from quantrl.stats.inference import ci_verdict, paired_comparison

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_TESTABLE = "not testable"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_TESTABLE)
"""The three verdicts a claim can get."""

MIN_SEEDS = 5
"""Seeds a full run of a study uses at least."""

VERDICT_COLUMNS = (
    "claim",
    "paper setting",
    "our setting",
    "what differs",
    "measure",
    "seeds",
    "mean",
    "ci low",
    "ci high",
    "p value",
    "verdict",
    "detail",
)
"""Columns of a verdict table, in order (one row per claim, indexed by the claim's key)."""


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, tested by a measurement (minus a baseline's) over seeds.

    ``metric`` names a per-seed measurement; with ``baseline`` the claim is about the paired
    difference ``metric - baseline`` (same seed), otherwise about ``metric - threshold``; the
    paper claims that difference is ``direction`` 0 (``">"`` or ``"<"``). ``paper``, ``ours``
    and ``differs`` describe the paper's setting, ours and what differs. A claim the bundled
    data cannot test has ``testable=False`` and a ``reason``.
    """

    key: str
    text: str
    metric: str = ""
    direction: Literal[">", "<"] = ">"
    baseline: str | None = None
    threshold: float = 0.0
    paper: str = ""
    ours: str = ""
    differs: str = ""
    testable: bool = True
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.key or not self.text:
            raise ConfigError("a claim needs a key and its text")
        if self.direction not in (">", "<"):
            raise ConfigError(f"claim {self.key!r}: direction must be '>' or '<'")
        if self.testable and not self.metric:
            raise ConfigError(f"claim {self.key!r}: a testable claim names its metric")
        if not self.testable and not self.reason:
            raise ConfigError(f"claim {self.key!r}: say why it is not testable (reason=...)")
        if self.baseline is not None and self.threshold != 0.0:
            raise ConfigError(f"claim {self.key!r}: give a baseline or a threshold, not both")

    @property
    def measure(self) -> str:
        """The tested quantity in words, e.g. ``dqn_sharpe - zscore_sharpe > 0``."""
        if not self.testable:
            return ""
        rhs = self.baseline if self.baseline is not None else f"{self.threshold:g}"
        return f"{self.metric} {self.direction} {rhs}"

    def as_dict(self) -> dict[str, Any]:
        """The claim's fields as a plain dict."""
        return asdict(self)


def _column(measurements: pd.DataFrame, name: str, claim: Claim) -> np.ndarray:
    """One measurement over the seeds, as floats; a missing one is an error naming it."""
    if name not in measurements.columns:
        raise DataError(
            f"claim {claim.key!r} needs the measurement {name!r}; the study measured "
            f"{', '.join(map(str, measurements.columns)) or 'nothing'}",
            rule="missing measurement",
        )
    return measurements[name].to_numpy(dtype=float)


def judge_claim(claim: Claim, measurements: pd.DataFrame, *, level: float = 0.95) -> dict:
    """One verdict-table row: the claim's mean difference over seeds, its CI and verdict.

    ``measurements``: one row per seed, one column per measurement. Seeds where a value is NaN
    are dropped; with fewer than 2 left the claim is ``not reproduced`` (too few seeds).
    """
    row: dict[str, Any] = {
        "claim": claim.text,
        "paper setting": claim.paper,
        "our setting": claim.ours,
        "what differs": claim.differs,
        "measure": claim.measure,
        "seeds": 0,
        "mean": math.nan,
        "ci low": math.nan,
        "ci high": math.nan,
        "p value": math.nan,
    }
    if not claim.testable:
        return {**row, "verdict": NOT_TESTABLE, "detail": claim.reason}
    a = _column(measurements, claim.metric, claim)
    if claim.baseline is not None:
        b = _column(measurements, claim.baseline, claim)
    else:
        b = np.full(a.size, float(claim.threshold))
    keep = np.isfinite(a) & np.isfinite(b)
    n = int(keep.sum())
    row["seeds"] = n
    if n < 2:
        detail = f"{n} seed(s) with a finite measurement; a CI needs at least 2"
        return {**row, "verdict": NOT_REPRODUCED, "detail": detail}
    if claim.baseline is not None:
        test = paired_comparison(a[keep], b[keep], level=level)
        mean, low, high, p = test.mean_difference, test.low, test.high, test.t_pvalue
    else:
        d = a[keep] - b[keep]
        mean = float(d.mean())
        if np.ptp(d) == 0.0:
            low = high = mean
            p = math.nan
        else:
            t = sps.ttest_1samp(d, 0.0)
            ci = t.confidence_interval(confidence_level=level)
            low, high, p = float(ci.low), float(ci.high), float(t.pvalue)
    row.update({"mean": mean, "ci low": low, "ci high": high, "p value": p})
    support = ci_verdict(low, high, claim.direction)
    pct = f"{level:.0%}"
    if support == "supported":
        verdict = REPRODUCED
        detail = f"the {pct} CI lies on the claimed side of 0"
    elif support == "contradicted":
        verdict = NOT_REPRODUCED
        detail = f"contradicted: the {pct} CI lies on the other side of 0"
    else:
        verdict = NOT_REPRODUCED
        detail = f"inconclusive: the {pct} CI contains 0"
    if n < MIN_SEEDS:
        detail += f" ({n} seeds, fewer than {MIN_SEEDS}: a smoke run)"
    return {**row, "verdict": verdict, "detail": detail}


def verdict_table(
    claims: Sequence[Claim],
    measurements: pd.DataFrame | Sequence[Mapping[str, float]],
    *,
    level: float = 0.95,
) -> pd.DataFrame:
    """The verdict table of ``claims`` over per-seed ``measurements`` (rows: seeds).

    ``measurements`` is a DataFrame (one row per seed) or a list of per-seed dicts.
    """
    if not claims:
        raise ConfigError("a study declares at least one claim")
    keys = [c.key for c in claims]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"claim keys repeat: {keys}")
    frame = measurements if isinstance(measurements, pd.DataFrame) else pd.DataFrame(measurements)
    rows = [judge_claim(c, frame, level=level) for c in claims]
    table = pd.DataFrame(rows, index=pd.Index(keys, name="key"), columns=list(VERDICT_COLUMNS))
    table["seeds"] = table["seeds"].astype(int)
    return table


__all__ = [
    "MIN_SEEDS",
    "NOT_REPRODUCED",
    "NOT_TESTABLE",
    "REPRODUCED",
    "VERDICTS",
    "VERDICT_COLUMNS",
    "Claim",
    "judge_claim",
    "verdict_table",
]
