"""Alpha metrics: IC, RankIC, ICIR, quantile returns, turnover and AlphaEval's five dimensions.

All metrics take (T, N) arrays: a factor (value known at the close of date t) and a label
(normally ``panel.forward_returns(h)``: the return from t to t+h). A cell is missing when it is
not finite. Definitions:

- IC(t) / RankIC(t): cross-sectional Pearson / Spearman (average ranks for ties) correlation of
  factor and label over the symbols finite in both on date t; NaN (and skipped by every summary)
  when fewer than 2 such symbols or either side is constant.
- ICIR = mean(IC) / std(IC) with ``ddof=1`` over the dates where IC is defined (no annualisation).
- AlphaEval (predictive power, stability, robustness, diversity, logic):

  * PPS = 0.5 * mean IC + 0.5 * mean RankIC.
  * RRE = mean over t of 1 / (1 + KL(p_t || p_{t-1})), p_t = rank_t / sum(rank_t) over the
    symbols finite at both t and t-1, ranks 1..n with average ties, KL in nats.
  * PFS = mean over dates of the cross-sectional Spearman between f and f * (1 + s * eps), for
    eps ~ N(0, 1) and eps ~ Student-t(3) (raw draws, not rescaled), s = ``noise_scale``; both are
    reported with their mean.
  * diversity of a set of k >= 2 factors = entropy(lambda / sum(lambda)) / log(k), lambda the
    eigenvalues of the Pearson correlation matrix of the factors pooled over the (date, symbol)
    cells finite in all factors; 1 = uncorrelated, 0 = all identical.
  * logic = the score in [0, 1] of a financial-logic judge (``quantrl.evaluation.logic``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from quantrl.alpha import evaluate_many, parse
from quantrl.data.splits import market_split
from quantrl.display import format_value, summary_html
from quantrl.errors import ConfigError
from quantrl.evaluation.logic import RuleBasedJudge
from quantrl.kernels.correlation import (
    pearson_rows_nb,
    quantile_means_nb,
    rank_kl_stability_nb,
    sorted_keys,
    spearman_rows,
    top_quantile_turnover_nb,
)
from quantrl.stats.ic import (
    ICSummary,
    as_2d,
    ic_series,
    ic_summary,
    nanmean,
    pair,
    rank_ic_series,
    summarize_ic,
)

if TYPE_CHECKING:  # pragma: no cover
    from quantrl.data.panel import Panel
    from quantrl.evaluation.logic import Judge

__all__ = [
    "AlphaEvalResult",
    "AlphaEvalSet",
    "AlphaReport",
    "PFSResult",
    "alphaeval",
    "diversity",
    "evaluate_formula",
    "evaluate_formulas",
    "evaluate_split",
    "factor_autocorrelation",
    "factor_turnover",
    "pfs",
    "plot_reports",
    "pps",
    "quantile_returns",
    "rre",
    "rre_series",
    "split_segment",
]


# ---------------------------------------------------------------------------- quantiles
def quantile_returns(
    factor: np.ndarray, label: np.ndarray, n_quantiles: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Mean label per factor quantile per date (T, Q) and the long-short (top - bottom) series.

    On each date the symbols with a finite factor and label are bucketed by average rank:
    bucket = floor(Q * (rank - 0.5) / n), so ties share a bucket and bucket 0 holds the lowest
    factor values. Dates with fewer than Q such symbols are NaN.
    """
    if n_quantiles < 2:
        raise ConfigError(f"n_quantiles must be >= 2, got {n_quantiles}")
    f, y = pair(factor, label)
    means = quantile_means_nb(f, y, int(n_quantiles))
    return means, means[:, -1] - means[:, 0]


def factor_turnover(factor: np.ndarray, n_quantiles: int = 5) -> np.ndarray:
    """Per-date share of the top-quantile names that were not in the top quantile the day before.

    The top quantile uses the bucketing of ``quantile_returns`` on the finite factor values.
    Row 0 and dates where either day's top quantile is empty are NaN.
    """
    if n_quantiles < 2:
        raise ConfigError(f"n_quantiles must be >= 2, got {n_quantiles}")
    return top_quantile_turnover_nb(as_2d("factor", factor), int(n_quantiles))


def factor_autocorrelation(factor: np.ndarray, lag: int = 1) -> np.ndarray:
    """Per-date Spearman correlation between the factor at t and at t - lag -> (T,)."""
    f = as_2d("factor", factor)
    if lag < 1:
        raise ConfigError(f"lag must be >= 1, got {lag}")
    out = np.full(f.shape[0], np.nan)
    if f.shape[0] > lag:
        out[lag:] = spearman_rows(f[lag:], f[:-lag])
    return out


# ---------------------------------------------------------------------------- AlphaEval
def pps(factor: np.ndarray, label: np.ndarray) -> float:
    """Predictive power score: 0.5 * mean IC + 0.5 * mean RankIC."""
    s = ic_summary(factor, label)
    return 0.5 * s.ic + 0.5 * s.rank_ic


def rre_series(factor: np.ndarray) -> np.ndarray:
    """Per-date rank stability 1 / (1 + KL(p_t || p_{t-1})) -> (T,); see the module docstring."""
    return rank_kl_stability_nb(as_2d("factor", factor))


def rre(factor: np.ndarray) -> float:
    """Temporal stability: mean over dates of 1 / (1 + KL(p_t || p_{t-1})) of rank weights."""
    return nanmean(rre_series(factor))


@dataclass(frozen=True)
class PFSResult:
    """Robustness to multiplicative noise: mean per-date Spearman(f, f * (1 + s * eps))."""

    gaussian: float
    student_t: float
    mean: float


def pfs(
    factor: np.ndarray,
    *,
    noise_scale: float = 0.1,
    seed: int | np.random.Generator = 0,
) -> PFSResult:
    """Robustness PFS for Gaussian and Student-t(3) multiplicative noise of scale ``noise_scale``.

    With ``rng = numpy.random.default_rng(seed)`` the Gaussian draws
    ``rng.standard_normal(shape)`` come first, then ``rng.standard_t(3, shape)``.
    """
    f = as_2d("factor", factor)
    if not noise_scale >= 0.0:
        raise ConfigError(f"noise_scale must be >= 0, got {noise_scale}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    eps_gauss = rng.standard_normal(f.shape)
    eps_t = rng.standard_t(3.0, f.shape)
    scores = []
    keys = sorted_keys(f)
    for eps in (eps_gauss, eps_t):
        noisy = f * (1.0 + noise_scale * eps)
        scores.append(nanmean(spearman_rows(noisy, f, y_keys=keys)))
    g, t = scores
    return PFSResult(gaussian=g, student_t=t, mean=0.5 * (g + t))


def diversity(factors: Sequence[np.ndarray] | np.ndarray) -> float:
    """Normalised eigen-entropy of the factors' correlation matrix; 1 = fully diverse.

    Pools the (date, symbol) cells finite in all k factors, takes the Pearson correlation matrix
    of the k columns, and returns -sum(p log p) / log(k) with p = lambda / sum(lambda) (negative
    round-off eigenvalues clipped to 0). NaN for fewer than 2 factors, fewer than 2 common cells
    or a constant factor.
    """
    arrays = [as_2d(f"factor {i}", f) for i, f in enumerate(factors)]
    k = len(arrays)
    if k < 2:
        return math.nan
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise ConfigError(f"factor {i} has shape {a.shape}, expected {shape}")
    stacked = np.stack([a.ravel() for a in arrays], axis=1)
    pooled = stacked[np.all(np.isfinite(stacked), axis=1)]
    if pooled.shape[0] < 2 or np.any(np.ptp(pooled, axis=0) == 0.0):
        return math.nan
    corr = np.corrcoef(pooled, rowvar=False)
    eig = np.clip(np.linalg.eigvalsh(corr), 0.0, None)
    p = eig / eig.sum()
    p = p[p > 0.0]
    return float(-(p * np.log(p)).sum() / math.log(k))


@dataclass(frozen=True)
class AlphaEvalResult:
    """AlphaEval's five dimensions plus the IC family for one factor."""

    ic: float
    rank_ic: float
    icir: float
    rank_icir: float
    pps: float
    rre: float
    pfs: float
    pfs_gaussian: float
    pfs_student_t: float
    diversity: float
    logic: float
    n_dates: int
    formula: str | None = None
    logic_reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the fields."""
        return asdict(self)


@dataclass(frozen=True)
class AlphaEvalSet:
    """AlphaEval of a set of factors: one result per factor and the set's diversity."""

    results: tuple[AlphaEvalResult, ...]
    diversity: float


def _judge_formula(formula: Any, judge: Judge | None) -> tuple[float, tuple[str, ...]]:
    if formula is None:
        return math.nan, ()
    if judge is None:
        judge = RuleBasedJudge()
    verdict = judge.judge(formula)
    return float(verdict.score), tuple(verdict.reasons)


def _alphaeval_one(
    factor: np.ndarray,
    label: np.ndarray,
    *,
    formula: Any,
    judge: Judge | None,
    seed: int,
    noise_scale: float,
    diversity_value: float,
    ic: np.ndarray | None = None,
    rank_ic: np.ndarray | None = None,
) -> AlphaEvalResult:
    f, y = pair(factor, label)
    if ic is None or rank_ic is None:
        ic, rank_ic = pearson_rows_nb(f, y), spearman_rows(f, y)
    s = summarize_ic(ic, rank_ic)
    robust = pfs(f, noise_scale=noise_scale, seed=seed)
    score, reasons = _judge_formula(formula, judge)
    return AlphaEvalResult(
        ic=s.ic,
        rank_ic=s.rank_ic,
        icir=s.icir,
        rank_icir=s.rank_icir,
        pps=0.5 * s.ic + 0.5 * s.rank_ic,
        rre=rre(f),
        pfs=robust.mean,
        pfs_gaussian=robust.gaussian,
        pfs_student_t=robust.student_t,
        diversity=diversity_value,
        logic=score,
        n_dates=s.n_dates,
        formula=None if formula is None else str(formula),
        logic_reasons=reasons,
    )


def alphaeval(
    factor_or_factors: np.ndarray | Sequence[np.ndarray],
    label: np.ndarray,
    *,
    formula: Any = None,
    judge: Judge | None = None,
    seed: int = 0,
    noise_scale: float = 0.1,
) -> AlphaEvalResult | AlphaEvalSet:
    """AlphaEval of one factor (-> AlphaEvalResult) or a set (list / (k, T, N) -> AlphaEvalSet).

    ``formula`` (a string or Expr, or one per factor) is scored by ``judge`` (default
    ``RuleBasedJudge``); without it the logic dimension is NaN. The diversity of a single factor
    is NaN; for a set every result carries the set's diversity. PFS uses ``seed``.
    """
    single = isinstance(factor_or_factors, np.ndarray) and factor_or_factors.ndim == 2
    if single:
        return _alphaeval_one(
            factor_or_factors,
            label,
            formula=formula,
            judge=judge,
            seed=seed,
            noise_scale=noise_scale,
            diversity_value=math.nan,
        )
    factors = list(factor_or_factors)
    if not factors:
        raise ConfigError("alphaeval needs at least one factor")
    if formula is None:
        formulas: list[Any] = [None] * len(factors)
    elif isinstance(formula, str) or not isinstance(formula, Sequence):
        raise ConfigError("with several factors, pass one formula per factor (a list)")
    else:
        formulas = list(formula)
    if len(formulas) != len(factors):
        raise ConfigError(f"{len(formulas)} formulas given for {len(factors)} factors")
    div = diversity(factors)
    results = tuple(
        _alphaeval_one(
            f,
            label,
            formula=fm,
            judge=judge,
            seed=seed,
            noise_scale=noise_scale,
            diversity_value=div,
        )
        for f, fm in zip(factors, formulas, strict=True)
    )
    return AlphaEvalSet(results=results, diversity=div)


# ---------------------------------------------------------------------------- formulas on panels
@dataclass(frozen=True)
class AlphaReport:
    """Evaluation of one formula on one panel segment: metrics plus the series behind them."""

    formula: str
    horizon: int
    dates: np.ndarray
    ic: np.ndarray
    rank_ic: np.ndarray
    quantile_means: np.ndarray
    long_short: np.ndarray
    turnover: np.ndarray
    metrics: AlphaEvalResult
    factor: np.ndarray = field(repr=False)

    @property
    def mean_turnover(self) -> float:
        """Mean top-quantile turnover over the dates where it is defined."""
        return nanmean(self.turnover)

    @property
    def ic_stats(self) -> ICSummary:
        """IC summary with Newey-West t-statistics for labels of ``horizon`` bars."""
        return summarize_ic(self.ic, self.rank_ic, self.horizon)

    def _summary(self) -> list[tuple[str, str]]:
        """(label, text) of the headline numbers shown by the reprs."""
        m = self.metrics
        span = (
            f"{format_value(self.dates[0])}..{format_value(self.dates[-1])}"
            if len(self.dates)
            else "no dates"
        )
        return [
            ("horizon", f"{self.horizon} bars"),
            ("dates", f"{len(self.dates)} ({span})"),
            ("IC", format_value(m.ic)),
            ("RankIC", format_value(m.rank_ic)),
            ("ICIR", format_value(m.icir)),
            ("RankICIR", format_value(m.rank_icir)),
            ("long-short mean", format_value(nanmean(self.long_short))),
            ("top-quantile turnover", format_value(self.mean_turnover)),
            ("PFS (robustness)", format_value(m.pfs)),
            ("RRE (stability)", format_value(m.rre)),
            ("logic", format_value(m.logic)),
        ]

    def __repr__(self) -> str:
        """One bounded line: formula (cut to 80 characters) and the headline metrics."""
        formula = self.formula if len(self.formula) <= 80 else self.formula[:79] + "…"
        parts = ", ".join(f"{k} {v}" for k, v in self._summary()[:6])
        return f"AlphaReport({formula!r}, {parts})"

    def _repr_html_(self) -> str:
        """A small table of the headline metrics for Jupyter (never the series)."""
        formula = self.formula if len(self.formula) <= 200 else self.formula[:199] + "…"
        return summary_html(f"AlphaReport {formula}", self._summary())


def evaluate_formulas(
    formulas: Sequence[Any],
    panel: Panel,
    horizon: int = 20,
    *,
    n_quantiles: int = 5,
    judge: Judge | None = None,
    seed: int = 0,
    noise_scale: float = 0.1,
) -> tuple[list[AlphaReport], float]:
    """Evaluate formulas on a panel segment against ``forward_returns(horizon)``.

    The factor is computed on the whole panel (warm-up rows included as history) and the
    metrics use only the segment rows after ``panel.warmup``. Returns one report per formula
    and the diversity of the set (NaN for a single formula).
    """

    if not formulas:
        raise ConfigError("no formula to evaluate")
    w = panel.warmup
    label = np.ascontiguousarray(panel.forward_returns(horizon)[w:])
    dates = panel.dates[w:]
    exprs = [parse(text) for text in formulas]
    factors = [np.ascontiguousarray(v[w:], np.float64) for v in evaluate_many(exprs, panel)]
    div = diversity(factors) if len(factors) > 1 else math.nan
    reports = []
    for expr, f in zip(exprs, factors, strict=True):
        ic, rank_ic = ic_series(f, label), rank_ic_series(f, label)
        metrics = _alphaeval_one(
            f,
            label,
            formula=expr,
            judge=judge,
            seed=seed,
            noise_scale=noise_scale,
            diversity_value=div,
            ic=ic,
            rank_ic=rank_ic,
        )
        qmeans, ls = quantile_returns(f, label, n_quantiles)
        reports.append(
            AlphaReport(
                formula=str(expr),
                horizon=int(horizon),
                dates=dates,
                ic=ic,
                rank_ic=rank_ic,
                quantile_means=qmeans,
                long_short=ls,
                turnover=factor_turnover(f, n_quantiles),
                metrics=metrics,
                factor=f,
            )
        )
    return reports, div


def evaluate_formula(
    formula: Any,
    panel: Panel,
    horizon: int = 20,
    *,
    n_quantiles: int = 5,
    judge: Judge | None = None,
    seed: int = 0,
    noise_scale: float = 0.1,
) -> AlphaReport:
    """Evaluate one formula on a panel segment; see ``evaluate_formulas``."""
    reports, _ = evaluate_formulas(
        [formula],
        panel,
        horizon,
        n_quantiles=n_quantiles,
        judge=judge,
        seed=seed,
        noise_scale=noise_scale,
    )
    return reports[0]


SPLITS = ("train", "valid", "test", "all")


def split_segment(
    panel: Panel,
    split: str = "test",
    *,
    valid_start: str | None = None,
    test_start: str | None = None,
    warmup: int = 0,
) -> Panel:
    """One segment of a panel: ``"train"``, ``"valid"``, ``"test"`` or ``"all"``.

    Split dates default to ``quantrl.data.splits.DEFAULT_SPLITS[panel.name]`` (sp500: valid 2016-07-01, test
    2017-01-01; dow30: valid 2019-01-01, test 2021-01-01). Valid and test carry ``warmup`` rows
    of history before their start (``panel.split``); ``"all"`` is the whole panel.
    """
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return market_split(panel, split, valid_start=valid_start, test_start=test_start, warmup=warmup)


def evaluate_split(
    formulas: Sequence[Any],
    panel: Panel,
    split: str = "test",
    *,
    horizon: int = 20,
    valid_start: str | None = None,
    test_start: str | None = None,
    n_quantiles: int = 5,
    judge: Judge | None = None,
    seed: int = 0,
    noise_scale: float = 0.1,
) -> tuple[list[AlphaReport], float]:
    """Parse formulas, cut the split with enough warm-up history for them and evaluate.

    The warm-up is the largest ``lookback`` of the formulas, so the first segment date already
    has factor values; labels never cross the segment's end. See ``evaluate_formulas``.
    """

    exprs = [parse(f) for f in formulas]
    if not exprs:
        raise ConfigError("no formula to evaluate")
    warmup = max(int(e.lookback) for e in exprs)
    segment = split_segment(
        panel, split, valid_start=valid_start, test_start=test_start, warmup=warmup
    )
    return evaluate_formulas(
        exprs,
        segment,
        horizon,
        n_quantiles=n_quantiles,
        judge=judge,
        seed=seed,
        noise_scale=noise_scale,
    )


def plot_reports(reports: Sequence[AlphaReport], path: str) -> None:
    """Write a PNG with the cumulative IC / RankIC and the mean quantile returns of each report."""

    if not reports:
        raise ConfigError("no report to plot")
    fig = Figure(figsize=(12, 4.5))
    ax_ic, ax_q = fig.subplots(1, 2)
    width = 0.8 / len(reports)
    for k, rep in enumerate(reports):
        name = rep.formula if len(rep.formula) <= 40 else rep.formula[:37] + "..."
        name = name.replace("$", r"\$")  # not mathtext
        (line,) = ax_ic.plot(rep.dates, np.cumsum(np.nan_to_num(rep.ic)), label=f"IC {name}")
        ax_ic.plot(
            rep.dates,
            np.cumsum(np.nan_to_num(rep.rank_ic)),
            linestyle="--",
            color=line.get_color(),
            label=f"RankIC {name}",
        )
        q = rep.quantile_means.shape[1]
        means = [nanmean(rep.quantile_means[:, i]) for i in range(q)]
        offset = (k - (len(reports) - 1) / 2) * width
        ax_q.bar(np.arange(1, q + 1) + offset, means, width, color=line.get_color(), label=name)
    ax_ic.set_title("Cumulative IC / RankIC")
    ax_ic.axhline(0.0, color="grey", linewidth=0.5)
    ax_ic.legend(fontsize=7)
    ax_ic.tick_params(axis="x", labelrotation=30)
    ax_q.set_title(f"Mean {reports[0].horizon}-bar forward return by factor quantile")
    ax_q.set_xlabel("quantile (1 = lowest factor)")
    ax_q.axhline(0.0, color="grey", linewidth=0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
