"""Performance statistics of simple periodic returns, numerically at parity with empyrical.

Every statistic takes a 1-D (T,) array of simple returns (and returns a float) or a 2-D (T, K)
array with one series per column (and returns a (K,) array); pandas Series/DataFrames are accepted
and read as arrays. NaN marks a bar where a series has no observation, handled as empyrical does:

* compounding statistics (``total_return``, ``cagr``, ``max_drawdown``, ``max_drawdown_duration``,
  ``calmar_ratio``) treat a NaN bar as a zero return: wealth stays flat, time still passes (CAGR
  annualises over all T rows);
* moment and distribution statistics (volatility, Sharpe, Sortino, omega, tail ratio, VaR, CVaR,
  alpha/beta, hit rate, PSR/DSR) drop the NaN bars of each series;
* Sharpe, Sortino, volatility, omega and alpha/beta are NaN when the array has fewer than two rows.

One deliberate difference: ``value_at_risk`` drops NaNs (empyrical's returns NaN as soon as one is
present), like ``conditional_value_at_risk`` and ``tail_ratio`` do in both. ``annual_volatility``
is exactly 0 for a constant series (empyrical can leave a rounding residue of ~1e-18).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from quantrl.errors import ConfigError, DataError
from quantrl.kernels.stats import (
    alpha_beta_nb,
    downside_nb,
    drawdown_duration_nb,
    drawdown_nb,
    growth_nb,
    mean_std_nb,
    moments_nb,
    omega_sums_nb,
    transpose_fill_nb,
)

EULER_MASCHERONI = 0.5772156649015329

Stat = float | np.ndarray


# ----------------------------------------------------------------------------- input handling


def _as_returns(returns: Any, name: str = "returns") -> tuple[np.ndarray, bool]:
    """Validate returns and view them as a C-contiguous float64 (T, K) array; flag 1-D input."""
    try:
        arr = np.asarray(returns, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}", rule="dtype") from exc
    if arr.ndim not in (1, 2):
        raise DataError(
            f"{name} must be 1-D (T,) or 2-D (T, K), got shape {arr.shape}", rule="shape"
        )
    if arr.shape[0] == 0 or arr.size == 0:
        raise DataError(f"{name} is empty (shape {arr.shape})", rule="empty")
    is_1d = arr.ndim == 1
    if is_1d:
        arr = arr.reshape(-1, 1)
    return np.ascontiguousarray(arr), is_1d


def _check_periods(periods_per_year: float) -> float:
    """Return periods_per_year as a float after checking it is finite and positive."""
    if isinstance(periods_per_year, bool) or not isinstance(
        periods_per_year, int | float | np.integer | np.floating
    ):
        raise ConfigError(f"periods_per_year must be a number, got {periods_per_year!r}")
    ppy = float(periods_per_year)
    if not math.isfinite(ppy) or ppy <= 0:
        raise ConfigError(f"periods_per_year must be finite and > 0, got {periods_per_year!r}")
    return ppy


def _check_scalar(value: float, name: str) -> float:
    """Return a finite float parameter or raise ConfigError naming it."""
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(out):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return out


def _check_cutoff(cutoff: float) -> float:
    """Return a tail cutoff in [0, 1] or raise ConfigError."""
    c = _check_scalar(cutoff, "cutoff")
    if not 0.0 <= c <= 1.0:
        raise ConfigError(f"cutoff must be in [0, 1], got {cutoff!r}")
    return c


def _out(values: np.ndarray, is_1d: bool) -> Stat:
    """A Python float for 1-D input, the (K,) array otherwise."""
    if is_1d:
        return float(values[0])
    return values


def _nan_if_short(values: np.ndarray, n_rows: int) -> np.ndarray:
    """NaN everywhere when the array has fewer than two rows (empyrical's rule)."""
    if n_rows < 2:
        return np.full_like(values, np.nan)
    return values


def _rows_by_count(r: np.ndarray) -> Iterator[tuple[np.ndarray, int, np.ndarray]]:
    """Group columns by their number n of non-NaN values: yield (columns, n, values as rows).

    Each yielded row holds one column's values with NaN replaced by +inf, so its n smallest
    entries are exactly its non-NaN values; all-NaN columns are skipped. The rows are a private
    copy that callers may reorder in place.
    """
    rows, counts = transpose_fill_nb(r, np.inf)
    for n in np.unique(counts):
        if n == 0:
            continue
        cols = np.flatnonzero(counts == n)
        yield cols, int(n), rows if len(cols) == rows.shape[0] else rows[cols]


def _nan_quantiles(r: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Per column quantiles of the non-NaN values, shape (len(qs), K), as ``np.percentile`` does.

    Linear interpolation between the order statistics around ``q * (n - 1)``, written as numpy's
    default method writes it; the order statistics come from ``np.partition`` (O(n) per row).
    """
    out = np.full((len(qs), r.shape[1]), np.nan)
    for cols, n, rows in _rows_by_count(r):
        for j, q in enumerate(qs):
            v = q * (n - 1)
            lo = int(math.floor(v))
            g = v - lo
            rows.partition(lo, axis=1)  # in place: rows is a private buffer
            a = rows[:, lo].copy()
            b = rows[:, lo + 1 :].min(axis=1) if lo + 1 < n else a
            diff = b - a
            out[j, cols] = b - diff * (1.0 - g) if g >= 0.5 else a + diff * g
    return out


def _lower_tail_mean(r: np.ndarray, cutoff: float) -> np.ndarray:
    """Per column mean of the ``int((n - 1) * cutoff) + 1`` smallest non-NaN values."""
    out = np.full(r.shape[1], np.nan)
    for cols, n, rows in _rows_by_count(r):
        m = int((n - 1) * cutoff) + 1
        rows.partition(m - 1, axis=1)  # in place: rows is a private buffer
        out[cols] = rows[:, :m].mean(axis=1)
    return out


# ----------------------------------------------------------------------------- return and risk


def total_return(returns: Any) -> Stat:
    """Compounded return ``prod(1 + r) - 1`` over the non-NaN bars (0 for an all-NaN series)."""
    r, is_1d = _as_returns(returns)
    return _out(growth_nb(r) - 1.0, is_1d)


def _cagr_from_growth(growth: np.ndarray, n_rows: int, ppy: float) -> np.ndarray:
    """``growth ** (1 / years) - 1`` with ``years = n_rows / periods_per_year``."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return growth ** (1.0 / (n_rows / ppy)) - 1.0


def cagr(returns: Any, periods_per_year: float = 252) -> Stat:
    """Compound annual growth ``prod(1 + r) ** (periods_per_year / T) - 1``; T counts NaN rows."""
    ppy = _check_periods(periods_per_year)
    r, is_1d = _as_returns(returns)
    return _out(_cagr_from_growth(growth_nb(r), r.shape[0], ppy), is_1d)


def annual_volatility(returns: Any, periods_per_year: float = 252) -> Stat:
    """Sample std (ddof=1) of the non-NaN returns times ``sqrt(periods_per_year)``."""
    ppy = _check_periods(periods_per_year)
    r, is_1d = _as_returns(returns)
    _, _, std = mean_std_nb(r, 0.0)
    return _out(_nan_if_short(std * ppy**0.5, r.shape[0]), is_1d)


def sharpe_ratio(returns: Any, risk_free: float = 0.0, periods_per_year: float = 252) -> Stat:
    """Annualised Sharpe ratio ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)``.

    ``risk_free`` is a per-period rate. A constant non-zero series gives +/-inf, a constant zero
    series NaN (empyrical's conventions).
    """
    ppy = _check_periods(periods_per_year)
    rf = _check_scalar(risk_free, "risk_free")
    r, is_1d = _as_returns(returns)
    _, mean, std = mean_std_nb(r, rf)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.divide(mean, std) * np.sqrt(ppy)
    return _out(_nan_if_short(out, r.shape[0]), is_1d)


def sortino_ratio(
    returns: Any, required_return: float = 0.0, periods_per_year: float = 252
) -> Stat:
    """Annualised Sortino ratio: ``mean(r - req) * P / (sqrt(mean(min(r - req, 0)**2)) * sqrt(P))``.

    The downside deviation averages over every non-NaN bar (bars above ``required_return``, a
    per-period rate, count as zero), as empyrical does. No downside gives +inf.
    """
    ppy = _check_periods(periods_per_year)
    req = _check_scalar(required_return, "required_return")
    r, is_1d = _as_returns(returns)
    _, mean, lpm2 = downside_nb(r, req)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (mean * ppy) / (np.sqrt(lpm2) * np.sqrt(ppy))
    return _out(_nan_if_short(out, r.shape[0]), is_1d)


def max_drawdown(returns: Any) -> Stat:
    """Largest peak-to-trough fall of compounded wealth, as a negative fraction (0 if none).

    Wealth starts at 1 before the first bar, so a first-bar loss counts; NaN bars are flat.
    """
    r, is_1d = _as_returns(returns)
    _, dd = drawdown_nb(r)
    return _out(dd, is_1d)


def max_drawdown_duration(returns: Any) -> Stat:
    """Longest drawdown in bars: from its peak to the first bar back at or above the peak.

    The peak is the last bar at the running maximum of wealth (-1 for the starting wealth of 1
    before the first bar); a drawdown that never recovers lasts until the last bar. 0 if wealth
    never falls. Example: returns [0.1, -0.1, 0.05, 0.1] peak at bar 0, recover at bar 3 -> 3.
    """
    r, is_1d = _as_returns(returns)
    return _out(drawdown_duration_nb(r), is_1d)


def calmar_ratio(returns: Any, periods_per_year: float = 252) -> Stat:
    """CAGR divided by ``|max_drawdown|``; NaN without a drawdown or when infinite."""
    ppy = _check_periods(periods_per_year)
    r, is_1d = _as_returns(returns)
    growth, dd = drawdown_nb(r)
    return _out(_calmar(_cagr_from_growth(growth, r.shape[0], ppy), dd), is_1d)


def _calmar(annual: np.ndarray, dd: np.ndarray) -> np.ndarray:
    """Calmar from CAGR and max drawdown with empyrical's NaN rules."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(dd < 0.0, annual / np.abs(dd), np.nan)
    out[np.isinf(out)] = np.nan
    return out


def omega_ratio(
    returns: Any,
    risk_free: float = 0.0,
    required_return: float = 0.0,
    periods_per_year: float = 252,
) -> Stat:
    """Omega ratio: sum of gains over sum of losses of ``r - risk_free - threshold``.

    ``required_return`` is annual, turned into the per-period threshold
    ``(1 + required_return) ** (1 / periods_per_year) - 1`` (used as is when periods_per_year is 1);
    ``risk_free`` is per period. NaN when there are no losses.
    """
    ppy = _check_periods(periods_per_year)
    rf = _check_scalar(risk_free, "risk_free")
    req = _check_scalar(required_return, "required_return")
    if ppy == 1:
        threshold = req
    elif req <= -1:
        raise ConfigError(f"required_return must be > -1 (annual rate), got {required_return!r}")
    else:
        threshold = (1 + req) ** (1.0 / ppy) - 1
    r, is_1d = _as_returns(returns)
    gains, losses = omega_sums_nb(r, rf, threshold)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(losses > 0.0, gains / losses, np.nan)
    return _out(_nan_if_short(out, r.shape[0]), is_1d)


def tail_ratio(returns: Any) -> Stat:
    """``|95th percentile| / |5th percentile|`` of the non-NaN returns (linear interpolation)."""
    r, is_1d = _as_returns(returns)
    q = _nan_quantiles(r, (0.95, 0.05))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.abs(q[0]) / np.abs(q[1])
    return _out(out, is_1d)


def value_at_risk(returns: Any, cutoff: float = 0.05) -> Stat:
    """Historical VaR: the ``cutoff`` quantile of the non-NaN returns (negative for a loss)."""
    c = _check_cutoff(cutoff)
    r, is_1d = _as_returns(returns)
    return _out(_nan_quantiles(r, (c,))[0], is_1d)


def conditional_value_at_risk(returns: Any, cutoff: float = 0.05) -> Stat:
    """Historical CVaR: mean of the ``int((n - 1) * cutoff) + 1`` worst of the n non-NaN returns."""
    c = _check_cutoff(cutoff)
    r, is_1d = _as_returns(returns)
    return _out(_lower_tail_mean(r, c), is_1d)


def alpha_beta(
    returns: Any,
    benchmark: Any,
    risk_free: float = 0.0,
    periods_per_year: float = 252,
) -> tuple[Stat, Stat]:
    """Annualised alpha ``(1 + mean(r - rf - beta (b - rf))) ** P - 1`` and OLS beta vs benchmark.

    ``benchmark`` is (T,) (shared by every column) or (T, K); only bars where both the series and
    the benchmark are non-NaN count. ``risk_free`` is per period. Returns (alpha, beta).
    """
    ppy = _check_periods(periods_per_year)
    rf = _check_scalar(risk_free, "risk_free")
    r, is_1d = _as_returns(returns)
    f, _ = _as_returns(benchmark, "benchmark")
    if f.shape[0] != r.shape[0]:
        raise DataError(
            f"benchmark has {f.shape[0]} rows but returns have {r.shape[0]}", rule="shape"
        )
    if f.shape[1] not in (1, r.shape[1]):
        raise DataError(
            f"benchmark must have 1 or {r.shape[1]} columns, got {f.shape[1]}", rule="shape"
        )
    mean_alpha, beta = alpha_beta_nb(r, f, rf)
    with np.errstate(invalid="ignore", over="ignore"):
        alpha = np.power(mean_alpha + 1.0, ppy) - 1.0
    alpha = _nan_if_short(alpha, r.shape[0])
    beta = _nan_if_short(beta, r.shape[0])
    return _out(alpha, is_1d), _out(beta, is_1d)


def hit_rate(returns: Any) -> Stat:
    """Share of positive returns among the non-zero, non-NaN ones (NaN if there are none)."""
    r, is_1d = _as_returns(returns)
    pos = np.count_nonzero(r > 0.0, axis=0)
    neg = np.count_nonzero(r < 0.0, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pos / (pos + neg)
    return _out(out.astype(np.float64), is_1d)


def turnover(weights: Any) -> float:
    """Mean one-way turnover of one portfolio: mean over t >= 1 of ``sum_i |w_t,i - w_t-1,i| / 2``.

    ``weights`` is (T, N) (one row of asset weights per bar) or (T,) for a single asset; NaN
    weights count as 0 (no position). The initial build from cash is not counted. NaN if T < 2.
    """
    w, _ = _as_returns(weights, "weights")
    if w.shape[0] < 2:
        return float("nan")
    w = np.nan_to_num(w, nan=0.0)
    return float(np.abs(np.diff(w, axis=0)).sum(axis=1).mean() / 2.0)


# ----------------------------------------------------------------------------- Sharpe inference


def _psr_parts(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column (per-period Sharpe, number of observations, Sharpe-estimator variance * (n-1))."""
    n, mean, std, skew, kurt = moments_nb(r)
    with np.errstate(invalid="ignore", divide="ignore"):
        sr = np.where(std > 0.0, mean / std, np.nan)
        spread = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    spread = np.where(spread > 0.0, spread, np.nan)
    return sr, n, spread


def _psr_from_parts(
    sr: np.ndarray, n: np.ndarray, spread: np.ndarray, benchmark: np.ndarray | float
) -> np.ndarray:
    """``Phi((SR - SR*) sqrt(n - 1) / sqrt(spread))``; NaN where undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (sr - benchmark) * np.sqrt(n - 1.0) / np.sqrt(spread)
        return np.where(n > 1, ndtr(z), np.nan)


def probabilistic_sharpe_ratio(returns: Any, benchmark_sharpe: float = 0.0) -> Stat:
    """Probabilistic Sharpe ratio (Bailey & Lopez de Prado 2012): P(true SR > benchmark_sharpe).

    PSR = Phi( (SR - SR*) * sqrt(n - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR**2) ), where SR =
    mean / std (ddof=1) is the per-period (not annualised) Sharpe of the n non-NaN returns, g3 the
    skewness and g4 the kurtosis (not excess; population moments, as ``scipy.stats.skew`` and
    ``scipy.stats.kurtosis(fisher=False)``), and SR* = ``benchmark_sharpe`` per period. NaN with
    fewer than two observations, a constant series or a non-positive term under the root.
    """
    bench = _check_scalar(benchmark_sharpe, "benchmark_sharpe")
    r, is_1d = _as_returns(returns)
    sr, n, spread = _psr_parts(r)
    return _out(_psr_from_parts(sr, n, spread, bench), is_1d)


def expected_max_sharpe(n_trials: int, sharpe_variance: Any) -> Stat:
    """Expected maximum of n_trials Sharpe estimates with true Sharpe 0 and the given variance.

    E[max SR] = sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e))), with g the
    Euler-Mascheroni constant (Bailey & Lopez de Prado 2014); 0 when N = 1.
    """
    n = _check_trials(n_trials)
    var = np.asarray(sharpe_variance, dtype=np.float64)
    if np.any(var < 0):
        raise ConfigError(f"sharpe_variance must be >= 0, got {sharpe_variance!r}")
    if n == 1:
        out = np.zeros_like(var)
    else:
        g = EULER_MASCHERONI
        z = (1.0 - g) * ndtri(1.0 - 1.0 / n) + g * ndtri(1.0 - 1.0 / (n * math.e))
        out = np.sqrt(var) * z
    return float(out) if out.ndim == 0 else out


def _check_trials(n_trials: int) -> int:
    """n_trials as an int >= 1, or ConfigError."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise ConfigError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    return int(n_trials)


@dataclass(frozen=True)
class TrialSet:
    """The trials a reported Sharpe ratio was selected from, for the deflated Sharpe ratio.

    ``n_trials`` counts every configuration tried (N); ``sharpe_variance`` is the variance of
    their per-period (not annualised) Sharpe ratios (V). With more than one trial V is
    required: the expected maximum of N Sharpe ratios depends on how much the trials' Sharpe
    ratios differ, not on any one series' estimation error. ``TrialSet()`` is a single trial.
    """

    n_trials: int = 1
    sharpe_variance: float | None = None

    def __post_init__(self) -> None:
        n = _check_trials(self.n_trials)
        v = self.sharpe_variance
        if v is not None:
            v = _check_scalar(v, "sharpe_variance")
            if v < 0:
                raise ConfigError(f"sharpe_variance must be >= 0, got {self.sharpe_variance!r}")
        elif n > 1:
            raise ConfigError(
                f"n_trials={n} needs sharpe_variance, the variance of the trials' per-period "
                "Sharpe ratios (build it with TrialSet.from_sharpes or TrialSet.from_returns)"
            )
        object.__setattr__(self, "n_trials", n)
        object.__setattr__(self, "sharpe_variance", v)

    @classmethod
    def from_sharpes(cls, sharpes: Any) -> TrialSet:
        """Trials from the per-period Sharpe ratios of every configuration tried.

        N counts every entry: a trial whose Sharpe ratio is undefined (NaN, e.g. it never
        traded) or infinite was still tried. V is the sample variance (ddof=1) of the finite
        entries; with N > 1 at least two must be finite.
        """
        values = np.asarray(sharpes, dtype=np.float64).ravel()
        if values.size == 0:
            raise ConfigError("from_sharpes needs the Sharpe ratio of at least one trial")
        if values.size == 1:
            return cls(1)
        finite = values[np.isfinite(values)]
        if finite.size < 2:
            raise ConfigError(
                f"{values.size} trials but {finite.size} finite Sharpe ratio(s): "
                "their variance needs at least 2"
            )
        return cls(int(values.size), float(finite.var(ddof=1)))

    @classmethod
    def from_returns(cls, returns: Any) -> TrialSet:
        """Trials from a (T, K) array of the K trials' return series (per-period Sharpe each)."""
        r, _ = _as_returns(returns)
        return cls.from_sharpes(sharpe_ratio(r, periods_per_year=1))

    @property
    def expected_max_sharpe(self) -> float:
        """Expected maximum per-period Sharpe of the trials under zero true Sharpe (0 for N=1)."""
        if self.n_trials == 1:
            return 0.0
        return float(expected_max_sharpe(self.n_trials, self.sharpe_variance))


def deflated_sharpe_ratio(
    returns: Any, trials: TrialSet | int = 1, sharpe_variance: float | None = None
) -> Stat:
    """Deflated Sharpe ratio (Bailey & Lopez de Prado 2014): PSR against the expected max Sharpe.

    DSR = PSR(SR0) with SR0 = ``expected_max_sharpe(N, V)`` (per-period units), N the number of
    trials and V the variance of the trials' per-period Sharpe ratios. ``trials`` is a
    ``TrialSet`` or N, with V given as ``sharpe_variance``; N > 1 without V is a ConfigError.
    With one trial the DSR equals the PSR against 0.
    """
    if isinstance(trials, TrialSet):
        if sharpe_variance is not None:
            raise ConfigError("give sharpe_variance inside the TrialSet, not beside it")
        trial_set = trials
    else:
        trial_set = TrialSet(trials, sharpe_variance)
    r, is_1d = _as_returns(returns)
    sr, n, spread = _psr_parts(r)
    sr0 = np.full(r.shape[1], trial_set.expected_max_sharpe)
    return _out(_psr_from_parts(sr, n, spread, sr0), is_1d)


# ----------------------------------------------------------------------------- summary

_LABELS = {
    "periods": "Periods",
    "total_return": "Total return",
    "cagr": "CAGR",
    "annual_volatility": "Annual volatility",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "calmar": "Calmar ratio",
    "max_drawdown": "Max drawdown",
    "max_drawdown_duration": "Max drawdown duration (bars)",
    "omega": "Omega ratio",
    "tail_ratio": "Tail ratio",
    "var": "Value at risk (5%)",
    "cvar": "Conditional value at risk (5%)",
    "hit_rate": "Hit rate",
    "psr": "Probabilistic Sharpe ratio",
    "dsr": "Deflated Sharpe ratio",
    "dsr_trials": "Trials (DSR)",
    "alpha": "Alpha",
    "beta": "Beta",
    "turnover": "Turnover",
}


def summary_stats(
    returns: Any,
    *,
    benchmark: Any = None,
    weights: Any = None,
    periods_per_year: float = 252,
    trials: TrialSet | None = None,
) -> pd.Series | pd.DataFrame:
    """Every statistic of this module in one table: a Series for 1-D input, else one column each.

    ``benchmark`` (T,) or (T, K) adds alpha and beta; ``weights`` adds turnover: a (T, N) array for
    1-D returns, a sequence of K such arrays for 2-D returns. ``trials`` (default one trial:
    DSR = PSR) deflates the Sharpe ratio; the "Trials (DSR)" row states the N used. Rows use
    readable labels ("Sharpe ratio", "Max drawdown", ...).
    """
    ppy = _check_periods(periods_per_year)
    if trials is None:
        trials = TrialSet()
    elif not isinstance(trials, TrialSet):
        raise ConfigError(f"trials must be a TrialSet or None, got {trials!r}")
    r, is_1d = _as_returns(returns)
    n_rows, n_cols = r.shape
    growth, dd = drawdown_nb(r)
    dur = drawdown_duration_nb(r)
    annual = _cagr_from_growth(growth, n_rows, ppy)
    _, mean, std = mean_std_nb(r, 0.0)
    _, dmean, lpm2 = downside_nb(r, 0.0)
    gains, losses = omega_sums_nb(r, 0.0, 0.0)
    q = _nan_quantiles(r, (0.95, 0.05))
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = mean / std * np.sqrt(ppy)
        sortino = (dmean * ppy) / (np.sqrt(lpm2) * np.sqrt(ppy))
        omega = np.where(losses > 0.0, gains / losses, np.nan)
        tail = np.abs(q[0]) / np.abs(q[1])
    stats: dict[str, np.ndarray] = {
        "periods": np.full(n_cols, float(n_rows)),
        "total_return": growth - 1.0,
        "cagr": annual,
        "annual_volatility": _nan_if_short(std * ppy**0.5, n_rows),
        "sharpe": _nan_if_short(sharpe, n_rows),
        "sortino": _nan_if_short(sortino, n_rows),
        "calmar": _calmar(annual, dd),
        "max_drawdown": dd,
        "max_drawdown_duration": dur,
        "omega": _nan_if_short(omega, n_rows),
        "tail_ratio": tail,
        "var": q[1],
        "cvar": _lower_tail_mean(r, 0.05),
        "hit_rate": np.atleast_1d(np.asarray(hit_rate(r), dtype=np.float64)),
        "psr": np.atleast_1d(np.asarray(probabilistic_sharpe_ratio(r))),
        "dsr": np.atleast_1d(np.asarray(deflated_sharpe_ratio(r, trials))),
        "dsr_trials": np.full(n_cols, float(trials.n_trials)),
    }
    if benchmark is not None:
        a, b = alpha_beta(r, benchmark, periods_per_year=ppy)
        stats["alpha"], stats["beta"] = np.atleast_1d(a), np.atleast_1d(b)
    if weights is not None:
        stats["turnover"] = _turnover_per_series(weights, is_1d, n_rows, n_cols)
    index = [_LABELS[k] for k in stats]
    table = np.vstack([np.asarray(v, dtype=np.float64) for v in stats.values()])
    if is_1d:
        name = returns.name if isinstance(returns, pd.Series) else "returns"
        return pd.Series(table[:, 0], index=index, name=name)
    columns = returns.columns if isinstance(returns, pd.DataFrame) else range(n_cols)
    return pd.DataFrame(table, index=index, columns=columns)


def _turnover_per_series(weights: Any, is_1d: bool, n_rows: int, n_cols: int) -> np.ndarray:
    """Turnover for each series of a summary (one weights array per return column)."""
    if is_1d:
        per_series = [weights]
    elif isinstance(weights, Sequence) and len(weights) == n_cols:
        per_series = list(weights)
    else:
        raise ConfigError(
            f"weights for 2-D returns must be a sequence of {n_cols} (T, N) arrays, one per column"
        )
    out = np.empty(len(per_series))
    for i, w in enumerate(per_series):
        rows = np.shape(w)[0] if np.ndim(w) else 0
        if rows != n_rows:
            raise DataError(f"weights have {rows} rows but returns have {n_rows}", rule="shape")
        out[i] = turnover(w)
    return out
