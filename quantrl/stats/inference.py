"""Inference on return and IC series that respects overlap, dependence and data snooping.

* ``newey_west_t``: HAC (Bartlett kernel, Newey-West) t-statistic of the mean of a series, for
  autocorrelated series such as daily ICs of multi-day labels; ``ic_lags`` gives at least
  ``horizon - 1`` lags, the overlap of consecutive ``horizon``-bar labels.
* ``sharpe_ci`` / ``sharpe_difference_ci``: stationary-bootstrap (Politis & Romano) percentile
  confidence intervals of an annualised Sharpe ratio and of the difference of two (paired: both
  series resampled with the same indices).
* ``paired_comparison``: per-seed metrics of two methods: paired t and Wilcoxon signed-rank tests.
* ``spa_test``: Hansen's Superior Predictive Ability test (does the best of several strategies
  beat a benchmark once the search over them is accounted for).
* ``ci_verdict``: the verdict a confidence interval of a difference gives on a directional claim.

NaN handling is explicit in each function: a single series drops its NaN entries; paired series
drop the rows where either side is NaN (all rows of ``spa_test``). Results are frozen dataclasses.
Every bootstrap is seeded: same seed, same inputs, same numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from arch.bootstrap import SPA, StationaryBootstrap, optimal_block_length
from scipy import stats as sps

from quantrl.errors import ConfigError, DataError

__all__ = [
    "BootstrapCI",
    "NeweyWestT",
    "PairedComparison",
    "SPAResult",
    "Verdict",
    "ci_verdict",
    "ic_lags",
    "newey_west_lags",
    "newey_west_t",
    "paired_comparison",
    "sharpe_ci",
    "sharpe_difference_ci",
    "spa_test",
    "stationary_block_size",
]

Verdict = Literal["supported", "contradicted", "inconclusive"]

MIN_BOOTSTRAP_OBS = 10
"""Fewest finite observations a bootstrap confidence interval is computed from."""

MIN_REPS = 10
"""Fewest bootstrap replications accepted."""


# ----------------------------------------------------------------------------- input checks


def _as_series(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array, or a DataError naming ``name``."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}", rule="dtype") from exc
    if arr.ndim != 1:
        raise DataError(f"{name} must be a 1-D series, got shape {arr.shape}", rule="shape")
    return arr


def _as_matrix(values: Any, name: str) -> np.ndarray:
    """``values`` as a (T, K) float64 array (a 1-D series is one column), or a DataError."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}", rule="dtype") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise DataError(f"{name} must be (T,) or (T, K), got shape {arr.shape}", rule="shape")
    return arr


def _aligned(a: Any, b: Any, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-D series of one length with the rows where either is NaN dropped."""
    x, y = _as_series(a, names[0]), _as_series(b, names[1])
    if x.shape != y.shape:
        raise DataError(
            f"{names[0]} has {x.size} rows but {names[1]} has {y.size}; they must be aligned",
            rule="shape",
        )
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def _check_level(level: float) -> float:
    """A confidence level strictly between 0 and 1, or ConfigError."""
    if isinstance(level, bool) or not isinstance(level, int | float | np.floating):
        raise ConfigError(f"level must be a number in (0, 1), got {level!r}")
    if not 0.0 < float(level) < 1.0:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    return float(level)


def _check_int(value: Any, name: str, minimum: int) -> int:
    """An integer >= minimum, or ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_periods(periods_per_year: float) -> float:
    """periods_per_year as a finite positive float, or ConfigError."""
    if isinstance(periods_per_year, bool) or not isinstance(
        periods_per_year, int | float | np.integer | np.floating
    ):
        raise ConfigError(f"periods_per_year must be a number, got {periods_per_year!r}")
    ppy = float(periods_per_year)
    if not math.isfinite(ppy) or ppy <= 0:
        raise ConfigError(f"periods_per_year must be finite and > 0, got {periods_per_year!r}")
    return ppy


def _check_finite(values: np.ndarray, name: str) -> None:
    """DataError when ``values`` hold an infinity."""
    if np.isinf(values).any():
        raise DataError(f"{name} contains an infinite value", rule="non-finite")


# ----------------------------------------------------------------------------- Newey-West


@dataclass(frozen=True)
class NeweyWestT:
    """HAC t-test of a mean: ``t = mean / se``; ``p_value`` two-sided against the normal."""

    mean: float
    se: float
    t: float
    p_value: float
    lags: int
    n: int

    def as_dict(self) -> dict[str, float]:
        """Plain dict of the fields."""
        return asdict(self)


def newey_west_lags(n: int) -> int:
    """Newey-West (1994) rule of thumb for the Bartlett bandwidth: floor(4 (n / 100)^(2/9))."""
    n = _check_int(n, "n", 0)
    return int(math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))


def ic_lags(n: int, horizon: int) -> int:
    """Lags for a series of ``horizon``-bar overlapping labels: max(horizon - 1, rule(n)).

    Consecutive ``horizon``-bar labels share ``horizon - 1`` bars, so their daily ICs are
    autocorrelated up to that lag.
    """
    h = _check_int(horizon, "horizon", 1)
    return max(h - 1, newey_west_lags(n))


def newey_west_t(series: Any, lags: int | None = None) -> NeweyWestT:
    """Newey-West t-statistic of the mean of a series (HAC variance, Bartlett kernel).

    NaN entries are dropped and the remaining values treated as consecutive. ``lags`` defaults
    to ``newey_west_lags(n)`` and is capped at ``n - 1``. Computed by statsmodels: OLS of the
    series on a constant with ``cov_type="HAC"`` (no small-sample correction), i.e.
    ``se**2 = (g0 + 2 sum_{l=1}^{L} (1 - l / (L + 1)) g_l) / n`` with ``g_l`` the lag-l
    autocovariance of the demeaned series (divided by n). ``t`` and ``p_value`` are NaN with
    fewer than 2 values or a constant series (``se`` 0); ``mean`` is NaN without values.

    With overlapping labels the Bartlett kernel down-weights the overlap: on 20-bar sums of iid
    noise, |t| > 1.96 happens about 12% of the time at ``ic_lags`` (70% for the naive t); more
    lags bring it closer to 5%.
    """
    x = _as_series(series, "series")
    x = x[~np.isnan(x)]
    _check_finite(x, "series")
    n = int(x.size)
    if lags is not None:
        lags = _check_int(lags, "lags", 0)
    used = min(newey_west_lags(n) if lags is None else lags, max(n - 1, 0))
    nan = math.nan
    if n == 0:
        return NeweyWestT(mean=nan, se=nan, t=nan, p_value=nan, lags=used, n=0)
    mean = float(x.mean())
    if n < 2 or np.ptp(x) == 0.0:
        se = 0.0 if n >= 2 else nan
        return NeweyWestT(mean=mean, se=se, t=nan, p_value=nan, lags=used, n=n)
    fit = sm.OLS(x, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": used})
    se = float(fit.bse[0])
    t = mean / se
    return NeweyWestT(
        mean=mean, se=se, t=t, p_value=float(2.0 * sps.norm.sf(abs(t))), lags=used, n=n
    )


# ----------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class BootstrapCI:
    """A point estimate and its stationary-bootstrap percentile confidence interval."""

    estimate: float
    low: float
    high: float
    level: float
    reps: int
    block_size: int
    n: int

    def as_dict(self) -> dict[str, float]:
        """Plain dict of the fields."""
        return asdict(self)


def stationary_block_size(data: Any) -> int:
    """Mean expected block length of the stationary bootstrap for the columns of ``data``.

    Politis & White (2004, corrected by Patton, Politis & White 2009) via
    ``arch.bootstrap.optimal_block_length``, rounded up, at least 1 and at most T; columns
    where it is undefined (constant) are skipped, 1 when all are.
    """
    x = _as_matrix(data, "data")
    if x.shape[0] < 2:
        return 1
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        lengths = optimal_block_length(x)["stationary"].to_numpy(dtype=np.float64)
    lengths = lengths[np.isfinite(lengths)]
    if lengths.size == 0:
        return 1
    return int(min(max(math.ceil(float(lengths.mean())), 1), x.shape[0]))


def _sharpe(x: np.ndarray, scale: float) -> float:
    """Annualised Sharpe ``mean / std(ddof=1) * scale`` of a 1-D array."""
    return float(x.mean() / x.std(ddof=1) * scale)


def _bootstrap_ci(
    func: Callable[..., np.ndarray],
    data: tuple[np.ndarray, ...],
    estimate: float,
    *,
    level: float,
    reps: int,
    block_size: int | None,
    seed: int | np.random.Generator,
) -> BootstrapCI:
    """Percentile interval of ``func`` over ``reps`` stationary-bootstrap resamples of ``data``."""
    level = _check_level(level)
    reps = _check_int(reps, "reps", MIN_REPS)
    n = data[0].shape[0]
    if block_size is None:
        block = stationary_block_size(np.column_stack(data))
    else:
        block = _check_int(block_size, "block_size", 1)
    bs = StationaryBootstrap(block, *data, seed=seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        ci = bs.conf_int(func, reps=reps, method="percentile", size=level)
    return BootstrapCI(
        estimate=estimate,
        low=float(ci[0, 0]),
        high=float(ci[1, 0]),
        level=level,
        reps=reps,
        block_size=block,
        n=n,
    )


def _check_bootstrap_input(x: np.ndarray, name: str) -> None:
    """Enough finite, non-constant observations for a bootstrap of a Sharpe ratio."""
    _check_finite(x, name)
    if x.size < MIN_BOOTSTRAP_OBS:
        raise DataError(
            f"{name} has {x.size} usable observations; a bootstrap needs at least "
            f"{MIN_BOOTSTRAP_OBS}",
            rule="too short",
        )
    if np.ptp(x) == 0.0:
        raise DataError(f"{name} is constant: its Sharpe ratio is undefined", rule="constant")


def sharpe_ci(
    returns: Any,
    *,
    periods_per_year: float = 252,
    level: float = 0.95,
    reps: int = 1000,
    block_size: int | None = None,
    seed: int | np.random.Generator = 0,
) -> BootstrapCI:
    """Stationary-bootstrap percentile CI of the annualised Sharpe ratio of a return series.

    The estimate is ``mean / std(ddof=1) * sqrt(periods_per_year)`` of the non-NaN returns
    (NaN bars are dropped, as ``quantrl.stats.performance.sharpe_ratio`` does). ``block_size``
    (the mean block length) defaults to ``stationary_block_size(returns)``. The percentile
    method is used: the jackknife behind BCa treats the bars as independent. Needs at least
    ``MIN_BOOTSTRAP_OBS`` non-NaN returns that are not all equal.
    """
    ppy = _check_periods(periods_per_year)
    x = _as_series(returns, "returns")
    x = x[~np.isnan(x)]
    _check_bootstrap_input(x, "returns")
    scale = math.sqrt(ppy)

    def stat(r: np.ndarray) -> np.ndarray:
        return np.array([_sharpe(r, scale)])

    return _bootstrap_ci(
        stat,
        (x,),
        _sharpe(x, scale),
        level=level,
        reps=reps,
        block_size=block_size,
        seed=seed,
    )


def sharpe_difference_ci(
    a: Any,
    b: Any,
    *,
    periods_per_year: float = 252,
    level: float = 0.95,
    reps: int = 1000,
    block_size: int | None = None,
    seed: int | np.random.Generator = 0,
) -> BootstrapCI:
    """Paired stationary-bootstrap CI of ``Sharpe(a) - Sharpe(b)`` for two aligned series.

    Both series are resampled with the same indices, so their correlation is kept. Rows where
    either is NaN are dropped. ``block_size`` defaults to ``stationary_block_size`` of the two
    columns (their mean). Percentile method, as in ``sharpe_ci``.
    """
    ppy = _check_periods(periods_per_year)
    x, y = _aligned(a, b, ("a", "b"))
    _check_bootstrap_input(x, "a")
    _check_bootstrap_input(y, "b")
    scale = math.sqrt(ppy)

    def stat(r: np.ndarray, s: np.ndarray) -> np.ndarray:
        return np.array([_sharpe(r, scale) - _sharpe(s, scale)])

    return _bootstrap_ci(
        stat,
        (x, y),
        _sharpe(x, scale) - _sharpe(y, scale),
        level=level,
        reps=reps,
        block_size=block_size,
        seed=seed,
    )


# ----------------------------------------------------------------------------- paired tests


@dataclass(frozen=True)
class PairedComparison:
    """Paired comparison of two methods' per-seed metrics (differences are a - b)."""

    n: int
    mean_difference: float
    low: float
    high: float
    level: float
    t_statistic: float
    t_pvalue: float
    wilcoxon_pvalue: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict of the fields."""
        return asdict(self)


def paired_comparison(a: Any, b: Any, *, level: float = 0.95) -> PairedComparison:
    """Paired t-test (``scipy.stats.ttest_rel``) and Wilcoxon signed-rank test of a - b.

    ``a[i]`` and ``b[i]`` are one metric of two methods run with the same seed ``i``. Pairs
    where either value is NaN are dropped; fewer than 2 pairs left, or lengths that differ,
    raise a DataError. The CI is the t-based interval of the mean difference at ``level``. Both
    tests are two-sided; Wilcoxon uses scipy's defaults (zero differences dropped, exact
    distribution for small samples without ties). When all differences are equal the tests are
    undefined: the p-values are NaN and the CI is the difference itself.
    """
    lvl = _check_level(level)
    x, y = _aligned(a, b, ("a", "b"))
    _check_finite(np.concatenate([x, y]), "a and b")
    n = int(x.size)
    if n < 2:
        raise DataError(f"a paired comparison needs at least 2 pairs, got {n}", rule="too short")
    d = x - y
    mean = float(d.mean())
    if np.ptp(d) == 0.0:
        nan = math.nan
        return PairedComparison(n, mean, mean, mean, lvl, nan, nan, nan)
    t = sps.ttest_rel(x, y)
    ci = t.confidence_interval(confidence_level=lvl)
    w = sps.wilcoxon(x, y)
    return PairedComparison(
        n=n,
        mean_difference=mean,
        low=float(ci.low),
        high=float(ci.high),
        level=lvl,
        t_statistic=float(t.statistic),
        t_pvalue=float(t.pvalue),
        wilcoxon_pvalue=float(w.pvalue),
    )


# ----------------------------------------------------------------------------- SPA


@dataclass(frozen=True)
class SPAResult:
    """Hansen's SPA test: p-values that no strategy beats the benchmark, and the best one."""

    p_lower: float
    p_consistent: float
    p_upper: float
    best_index: int
    best_name: str
    best_mean_excess: float
    n: int
    n_strategies: int
    reps: int
    block_size: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the fields."""
        return asdict(self)


def spa_test(
    benchmark_returns: Any,
    strategy_returns: Any,
    *,
    reps: int = 1000,
    block_size: int | None = None,
    seed: int | np.random.Generator = 0,
) -> SPAResult:
    """Hansen's (2005) Superior Predictive Ability test over ``arch.bootstrap.SPA``.

    H0: no strategy has a higher expected return than the benchmark. Losses are the negated
    returns; the studentized test with a stationary bootstrap is used. ``p_consistent`` is
    Hansen's recommended p-value, ``p_lower`` / ``p_upper`` bound it (``p_upper`` is White's
    Reality Check applied to studentized statistics). ``strategy_returns`` is (T,) or (T, K)
    (a DataFrame's column names name the strategies), aligned with the (T,) benchmark; rows
    where any series is NaN are dropped. The best strategy is the one with the largest mean
    excess return over the benchmark. ``block_size`` defaults to ``stationary_block_size`` of
    the excess returns.
    """
    bench = _as_series(benchmark_returns, "benchmark_returns")
    models = _as_matrix(strategy_returns, "strategy_returns")
    if models.shape[0] != bench.size:
        raise DataError(
            f"strategy_returns have {models.shape[0]} rows but benchmark_returns have {bench.size}",
            rule="shape",
        )
    names = (
        [str(c) for c in strategy_returns.columns]
        if isinstance(strategy_returns, pd.DataFrame)
        else [str(i) for i in range(models.shape[1])]
    )
    keep = ~(np.isnan(bench) | np.isnan(models).any(axis=1))
    bench, models = bench[keep], models[keep]
    _check_finite(bench, "benchmark_returns")
    _check_finite(models, "strategy_returns")
    if bench.size < MIN_BOOTSTRAP_OBS:
        raise DataError(
            f"{bench.size} usable rows; the SPA test needs at least {MIN_BOOTSTRAP_OBS}",
            rule="too short",
        )
    reps = _check_int(reps, "reps", MIN_REPS)
    excess = models - bench[:, None]
    if block_size is None:
        block = stationary_block_size(excess)
    else:
        block = _check_int(block_size, "block_size", 1)
    spa = SPA(-bench, -models, block_size=block, reps=reps, bootstrap="stationary", seed=seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        spa.compute()
    p = spa.pvalues
    mean_excess = excess.mean(axis=0)
    best = int(np.argmax(mean_excess))
    return SPAResult(
        p_lower=float(p["lower"]),
        p_consistent=float(p["consistent"]),
        p_upper=float(p["upper"]),
        best_index=best,
        best_name=names[best],
        best_mean_excess=float(mean_excess[best]),
        n=int(bench.size),
        n_strategies=int(models.shape[1]),
        reps=reps,
        block_size=block,
    )


# ----------------------------------------------------------------------------- verdicts


def ci_verdict(low: float, high: float, direction: Literal[">", "<"]) -> Verdict:
    """Verdict of a CI [low, high] of a difference on the claim "difference ``direction`` 0".

    "supported" when the whole interval lies strictly on the claimed side of 0,
    "contradicted" when it lies strictly on the other side, "inconclusive" otherwise (it
    touches or contains 0, or a bound is NaN: no evidence either way).
    """
    if direction not in (">", "<"):
        raise ConfigError(f"direction must be '>' or '<', got {direction!r}")
    lo, hi = float(low), float(high)
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive"
    if lo > hi:
        raise ConfigError(f"the interval is reversed: low {lo} > high {hi}")
    sign = 1.0 if direction == ">" else -1.0
    near, far = (lo, hi) if sign > 0 else (-hi, -lo)
    if near > 0.0:
        return "supported"
    if far < 0.0:
        return "contradicted"
    return "inconclusive"
