"""Numba kernels for performance statistics on (T, K) arrays of simple periodic returns.

Every kernel takes a C-contiguous float64 array ``r`` of shape (T, K): one column per series, one
row per bar, NaN where a series has no observation. The column-wise kernels walk the rows in bar
order with an inner loop over contiguous columns written with selects rather than branches, so
LLVM vectorises it; one pass over a 500 x 5,000 array takes a few milliseconds on one core, which
is why they stay serial (threads did not pay on shared 2-core machines). They return raw
accumulators (counts, means, sums); ratios and NaN/inf rules live in
:mod:`quantrl.stats.performance`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_TILE = 32  # tile edge of the blocked transpose
_ANCHOR = 100.0  # starting wealth of the drawdown path (empyrical's, for bit-equal drawdowns)


@njit(cache=True)
def growth_nb(r: np.ndarray) -> np.ndarray:
    """Per column product of (1 + r) over the non-NaN bars (1.0 for an all-NaN column)."""
    n_rows, n_cols = r.shape
    out = np.ones(n_cols)
    for t in range(n_rows):
        row = r[t]
        for k in range(n_cols):
            x = row[k]
            out[k] *= 1.0 + (x if x == x else 0.0)
    return out


@njit(cache=True)
def _is_constant_nb(r: np.ndarray, k: int, shift: float) -> bool:
    """Whether every non-NaN value of ``r[:, k] - shift`` is the same number."""
    first = np.nan
    for t in range(r.shape[0]):
        x = r[t, k] - shift
        if x == x:
            if first != first:
                first = x
            elif x != first:
                return False
    return True


@njit(cache=True, error_model="numpy")
def mean_std_nb(r: np.ndarray, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column count, mean and sample std (ddof=1) of the non-NaN values of ``r - shift``.

    Two passes (mean, then squared deviations). The std is exactly 0 when every non-NaN value of
    the column is equal, NaN with fewer than two values; the mean is NaN with none. For equal
    values the rounded mean can differ from them by about n * eps * |mean|, so any column whose
    std falls below 4 * n * eps * |mean| is rescanned to tell a constant column from a tiny spread.
    """
    n_rows, n_cols = r.shape
    count = np.zeros(n_cols)
    total = np.zeros(n_cols)
    for t in range(n_rows):
        row = r[t]
        for k in range(n_cols):
            x = row[k] - shift
            ok = x == x
            count[k] += 1.0 if ok else 0.0
            total[k] += x if ok else 0.0
    mean = np.full(n_cols, np.nan)
    for k in range(n_cols):
        if count[k] > 0:
            mean[k] = total[k] / count[k]
    ssq = np.zeros(n_cols)
    for t in range(n_rows):
        row = r[t]
        for k in range(n_cols):
            d = row[k] - shift - mean[k]
            ssq[k] += d * d if d == d else 0.0
    std = np.full(n_cols, np.nan)
    eps = np.finfo(np.float64).eps
    for k in range(n_cols):
        if count[k] > 1:
            s = np.sqrt(ssq[k] / (count[k] - 1.0))
            if s <= 4.0 * count[k] * eps * abs(mean[k]) and _is_constant_nb(r, k, shift):
                s = 0.0
            std[k] = s
    return count, mean, std


@njit(cache=True, error_model="numpy")
def downside_nb(r: np.ndarray, required: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column count, mean of ``r - required`` and mean of ``min(r - required, 0) ** 2``.

    Both means run over all non-NaN bars (a bar above the threshold adds a zero to the downside
    mean): the second lower partial moment the Sortino ratio uses. NaN for an all-NaN column.
    """
    n_rows, n_cols = r.shape
    count = np.zeros(n_cols)
    mean = np.zeros(n_cols)
    lpm2 = np.zeros(n_cols)
    for t in range(n_rows):
        row = r[t]
        for k in range(n_cols):
            x = row[k] - required
            ok = x == x
            count[k] += 1.0 if ok else 0.0
            mean[k] += x if ok else 0.0
            lpm2[k] += x * x if x < 0.0 else 0.0
    for k in range(n_cols):
        if count[k] > 0:
            mean[k] /= count[k]
            lpm2[k] /= count[k]
        else:
            mean[k] = np.nan
            lpm2[k] = np.nan
    return count, mean, lpm2


@njit(cache=True, error_model="numpy")
def drawdown_nb(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column final growth ``prod(1 + r)`` and maximum drawdown (<= 0).

    Wealth starts at 1 before the first bar and compounds ``1 + r`` (a NaN bar leaves it
    unchanged). The running peak includes that starting value, so a loss on the first bar is a
    drawdown. Drawdown is ``(wealth - peak) / peak`` on wealth scaled by ``_ANCHOR`` (100), the
    same arithmetic as empyrical, so results agree to the last bit.
    """
    n_rows, n_cols = r.shape
    growth = np.ones(n_cols)
    peak = np.full(n_cols, _ANCHOR)
    max_dd = np.zeros(n_cols)
    for t in range(n_rows):
        row = r[t]
        for k in range(n_cols):
            x = row[k]
            g = growth[k] * (1.0 + (x if x == x else 0.0))
            growth[k] = g
            w = g * _ANCHOR
            p = w if w >= peak[k] else peak[k]
            peak[k] = p
            d = (w - p) / p
            max_dd[k] = d if d < max_dd[k] else max_dd[k]
    return growth, max_dd


@njit(cache=True)
def drawdown_duration_nb(r: np.ndarray) -> np.ndarray:
    """Per column longest drawdown duration in bars, with the wealth path of ``drawdown_nb``.

    A drawdown's duration is the number of bars from its peak (the last bar at the running
    maximum of wealth, -1 for the starting value) to the first bar back at or above that peak, or
    to the last bar when it never recovers. 0 when wealth never falls.
    """
    n_rows, n_cols = r.shape
    growth = np.ones(n_cols)
    peak = np.full(n_cols, _ANCHOR)
    peak_t = np.full(n_cols, -1.0)
    max_dur = np.zeros(n_cols)
    for t in range(n_rows):
        row = r[t]
        tf = float(t)
        for k in range(n_cols):
            x = row[k]
            g = growth[k] * (1.0 + (x if x == x else 0.0))
            growth[k] = g
            w = g * _ANCHOR
            at_peak = w >= peak[k]
            # back at the peak after at least one bar below it: a drawdown ends here
            dur = tf - peak_t[k]
            c = dur if (at_peak and dur > 1.0) else 0.0
            max_dur[k] = c if c > max_dur[k] else max_dur[k]
            peak_t[k] = tf if at_peak else peak_t[k]
            peak[k] = w if at_peak else peak[k]
    last = float(n_rows - 1)
    for k in range(n_cols):
        max_dur[k] = max(max_dur[k], last - peak_t[k])
    return max_dur


@njit(cache=True)
def omega_sums_nb(
    r: np.ndarray, risk_free: float, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per column sum of the gains and of the losses (positive) of ``r - risk_free - threshold``.

    NaN bars are skipped; sums run in bar order.
    """
    n_rows, n_cols = r.shape
    gains = np.zeros(n_cols)
    losses = np.zeros(n_cols)
    for t in range(n_rows):
        row = r[t]
        for k in range(n_cols):
            x = row[k] - risk_free - threshold
            gains[k] += x if x > 0.0 else 0.0
            losses[k] -= x if x < 0.0 else 0.0
    return gains, losses


@njit(cache=True, error_model="numpy")
def moments_nb(r: np.ndarray) -> np.ndarray:
    """Per column (count, mean, std ddof=1, skewness, kurtosis) of the non-NaN values, shape (5, K).

    Skewness ``m3 / m2**1.5`` and kurtosis ``m4 / m2**2`` (not excess) use the population central
    moments ``m_j = mean((x - mean)**j)``. A column whose values are all equal has std 0 and NaN
    skewness and kurtosis; other undefined entries are NaN too.
    """
    n_rows, n_cols = r.shape
    count, mean, std = mean_std_nb(r, 0.0)
    m2 = np.zeros(n_cols)
    m3 = np.zeros(n_cols)
    m4 = np.zeros(n_cols)
    for t in range(n_rows):
        row = r[t]
        for k in range(n_cols):
            d = row[k] - mean[k]
            ok = d == d
            d2 = d * d
            m2[k] += d2 if ok else 0.0
            m3[k] += d2 * d if ok else 0.0
            m4[k] += d2 * d2 if ok else 0.0
    out = np.full((5, n_cols), np.nan)
    out[0] = count
    out[1] = mean
    out[2] = std
    for k in range(n_cols):
        n = count[k]
        p2 = m2[k] / n if n > 0 else 0.0
        if n > 1 and std[k] > 0.0 and p2 > 0.0:
            out[3, k] = (m3[k] / n) / p2**1.5
            out[4, k] = (m4[k] / n) / (p2 * p2)
    return out


@njit(cache=True)
def transpose_fill_nb(r: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """C-contiguous (K, T) copy of ``r.T`` with NaN replaced by ``fill``, and per column counts.

    A blocked transpose (tiles of ``_TILE`` x ``_TILE``) so that both sides stay in cache; the
    counts are the number of non-NaN values of each column. Used to run ``np.partition`` on rows.
    """
    n_rows, n_cols = r.shape
    out = np.empty((n_cols, n_rows))
    counts = np.zeros(n_cols, dtype=np.int64)
    for t0 in range(0, n_rows, _TILE):
        t1 = min(n_rows, t0 + _TILE)
        for k0 in range(0, n_cols, _TILE):
            k1 = min(n_cols, k0 + _TILE)
            for t in range(t0, t1):
                for k in range(k0, k1):
                    x = r[t, k]
                    ok = x == x
                    out[k, t] = x if ok else fill
                    counts[k] += 1 if ok else 0
    return out, counts


@njit(cache=True, error_model="numpy")
def alpha_beta_nb(r: np.ndarray, f: np.ndarray, risk_free: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column mean per-bar alpha and beta of ``r`` against benchmark ``f`` (OLS on pairs).

    ``f`` has one column (shared benchmark) or K columns. Only bars where both are non-NaN count.
    beta = mean(f_c * r) / mean(f_c**2) with f_c the benchmark centred over those bars (NaN when
    that variance is below 1e-30); alpha = mean((r - rf) - beta * (f - rf)), the per-bar intercept.
    """
    n_rows, n_cols = r.shape
    step = 0 if f.shape[1] == 1 else 1
    count = np.zeros(n_cols)
    f_mean = np.zeros(n_cols)
    for t in range(n_rows):
        for k in range(n_cols):
            x = r[t, k]
            y = f[t, k * step]
            ok = x == x and y == y
            count[k] += 1.0 if ok else 0.0
            f_mean[k] += y if ok else 0.0
    for k in range(n_cols):
        f_mean[k] = f_mean[k] / count[k] if count[k] > 0 else np.nan
    cov = np.zeros(n_cols)
    var = np.zeros(n_cols)
    for t in range(n_rows):
        for k in range(n_cols):
            x = r[t, k]
            d = f[t, k * step] - f_mean[k]
            ok = x == x and d == d
            cov[k] += d * x if ok else 0.0
            var[k] += d * d if ok else 0.0
    beta = np.full(n_cols, np.nan)
    for k in range(n_cols):
        if count[k] > 0 and var[k] / count[k] >= 1.0e-30:
            beta[k] = (cov[k] / count[k]) / (var[k] / count[k])
    alpha = np.zeros(n_cols)
    for t in range(n_rows):
        for k in range(n_cols):
            x = r[t, k]
            y = f[t, k * step]
            a = (x - risk_free) - beta[k] * (y - risk_free)
            alpha[k] += a if (x == x and y == y) else 0.0
    for k in range(n_cols):
        alpha[k] = alpha[k] / count[k] if count[k] > 0 else np.nan
    return alpha, beta
