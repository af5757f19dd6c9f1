"""Rolling-window kernels on (T, N) float64 arrays: one column per symbol, rows are dates.

Conventions shared by every kernel here:

* A window of length ``w`` ending at row ``t`` covers rows ``t - w + 1 .. t``; nothing after ``t``
  is ever read, so the value at ``t`` only depends on rows ``<= t``.
* A window must be full: the first ``w - 1`` rows are NaN, and a window holding a non-finite value
  (NaN or +/-inf) yields NaN (``rolling_count_nb`` excepted: it counts the finite values).
* O(T) kernels (sums, moments, covariance, regression, EMA) walk the rows in order with
  all symbols innermost: contiguous memory that LLVM vectorises. Running sums are
  re-synchronised from scratch every ``max(4 w, 32)`` rows around a local centre: no drift.
* Threads: the running-sum kernels split the rows into a fixed number of blocks
  (``quantrl.kernels.row_blocks``) that start on re-synchronisation rows, so each block is one vectorised
  row-major pass and the result does not depend on the thread count. EMA runs on one thread
  (a version split by columns measured four times slower on one thread).
* O(T*w) kernels: Mad over row blocks, skew and kurt over symbols; the order statistics (median,
  quantile, rank) live in ``quantrl.kernels.rolling_order``, max, min and their positions in
  ``quantrl.kernels.rolling_extremes``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantrl.kernels.row_blocks import row_bounds_nb

# --------------------------------------------------------------------------- helpers


@njit(cache=True, error_model="numpy")
def _sync_period(w: int) -> int:
    """Rows between re-synchronisations of the running sums (each costs a pass over w rows)."""
    return max(4 * w, 32)


# --------------------------------------------------------------------------- row blocks


@njit(cache=True, parallel=True)
def _moments_rows(x, w, mode, out):
    period = _sync_period(w)
    bounds = row_bounds_nb(x.shape[0], period)
    for b in prange(bounds.shape[0] - 1):
        _moments_block(x, w, mode, out, bounds[b], bounds[b + 1])


@njit(cache=True, parallel=True)
def _pair_rows(x, y, w, mode, eps, out):
    period = _sync_period(w)
    bounds = row_bounds_nb(x.shape[0], period)
    for b in prange(bounds.shape[0] - 1):
        _pair_block(x, y, w, mode, eps, out, bounds[b], bounds[b + 1])


@njit(cache=True, parallel=True)
def _linear_rows(x, w, mode, eps, out):
    period = _sync_period(w)
    bounds = row_bounds_nb(x.shape[0], period)
    for b in prange(bounds.shape[0] - 1):
        _linear_block(x, w, mode, eps, out, bounds[b], bounds[b + 1])


# --------------------------------------------------------------------------- layout helpers


@njit(cache=True, error_model="numpy")
def _recentre(x, c, t, w):
    """Set c to the latest finite value of each column in rows t-w+1..t (0 when none)."""
    for jj in range(c.shape[0]):
        c[jj] = 0.0
        for k in range(t, max(t - w, -1), -1):
            v = x[k, jj]
            if np.isfinite(v):
                c[jj] = v
                break


@njit(cache=True, error_model="numpy")
def _first_centres(x, m):
    """First finite value of each column (0 when none)."""
    c = np.zeros(m)
    for jj in range(m):
        for k in range(x.shape[0]):
            v = x[k, jj]
            if np.isfinite(v):
                c[jj] = v
                break
    return c


# --------------------------------------------------------------------------- sum / mean / var


@njit(cache=True, error_model="numpy")
def _std_slide(x, t, w, c, s1, s2, bad, inv_w, inv_dof, out):
    """Row t >= w of the std: add row t, drop row t - w, write the value, in one pass.

    Per column the operations (and so the bits) are those of separate add, drop and output
    passes over all columns; fusing them keeps the sums in registers. (Sums, means and
    variances keep the separate passes: fusing them measured under 15% faster.)
    """
    for jj in range(x.shape[1]):
        cc = c[jj]
        v = x[t, jj]
        ok = np.isfinite(v)
        d = v - cc if ok else 0.0
        nb = bad[jj] + (0.0 if ok else 1.0)
        u = x[t - w, jj]
        ok = np.isfinite(u)
        e = u - cc if ok else 0.0
        s = (s1[jj] + d) - e
        q = (s2[jj] + d * d) - e * e
        nb -= 0.0 if ok else 1.0
        s1[jj] = s
        s2[jj] = q
        bad[jj] = nb
        var = max((q - s * s * inv_w) * inv_dof, 0.0)
        out[t, jj] = np.sqrt(var) if nb == 0.0 else np.nan


@njit(cache=True, error_model="numpy")
def _moments_block(x, w, mode, out, t0, t1):
    """Rows t0..t1-1 in order, all columns innermost. mode 0 sum, 1 mean, 2 var, 3 std."""
    m = x.shape[1]
    c = _first_centres(x, m) if t0 == 0 else np.zeros(m)  # later blocks re-centre at t0
    s1 = np.zeros(m)
    s2 = np.zeros(m)
    bad = np.zeros(m)
    squares = mode >= 2  # sums and means need no squares
    inv_w = 1.0 / w
    inv_dof = 1.0 / (w - 1) if w > 1 else np.nan
    period = _sync_period(w)
    for t in range(t0, t1):
        if (t % period) == 0 and t >= w:
            _recentre(x, c, t, w)
            s1[:] = 0.0
            s2[:] = 0.0
            bad[:] = 0.0
            for k in range(t - w + 1, t + 1):
                for jj in range(m):
                    v = x[k, jj]
                    ok = np.isfinite(v)
                    d = v - c[jj] if ok else 0.0
                    s1[jj] += d
                    if squares:
                        s2[jj] += d * d
                    bad[jj] += 0.0 if ok else 1.0
        elif t >= w and mode == 3:  # the std's steady state: one fused pass per row
            _std_slide(x, t, w, c, s1, s2, bad, inv_w, inv_dof, out)
            continue
        else:
            for jj in range(m):
                v = x[t, jj]
                ok = np.isfinite(v)
                d = v - c[jj] if ok else 0.0
                s1[jj] += d
                if squares:
                    s2[jj] += d * d
                bad[jj] += 0.0 if ok else 1.0
            if t >= w:
                for jj in range(m):
                    u = x[t - w, jj]
                    ok = np.isfinite(u)
                    d = u - c[jj] if ok else 0.0
                    s1[jj] -= d
                    if squares:
                        s2[jj] -= d * d
                    bad[jj] -= 0.0 if ok else 1.0
        if t < w - 1:
            for jj in range(m):
                out[t, jj] = np.nan
            continue
        if mode == 0:
            for jj in range(m):
                out[t, jj] = s1[jj] + c[jj] * w if bad[jj] == 0.0 else np.nan
        elif mode == 1:
            for jj in range(m):
                out[t, jj] = s1[jj] * inv_w + c[jj] if bad[jj] == 0.0 else np.nan
        elif mode == 2:
            for jj in range(m):
                var = max((s2[jj] - s1[jj] * s1[jj] * inv_w) * inv_dof, 0.0)
                out[t, jj] = var if bad[jj] == 0.0 else np.nan
        else:
            for jj in range(m):
                var = max((s2[jj] - s1[jj] * s1[jj] * inv_w) * inv_dof, 0.0)
                out[t, jj] = np.sqrt(var) if bad[jj] == 0.0 else np.nan


@njit(cache=True, error_model="numpy")
def rolling_sum_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling sum over a full window of ``w`` rows."""
    T, N = x.shape
    out = np.empty((T, N))
    _moments_rows(x, w, 0, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_mean_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling mean over a full window of ``w`` rows."""
    T, N = x.shape
    out = np.empty((T, N))
    _moments_rows(x, w, 1, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_var_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling sample variance (ddof=1, as pandas ``rolling(w).var()``)."""
    T, N = x.shape
    out = np.empty((T, N))
    _moments_rows(x, w, 2, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_std_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling sample standard deviation (ddof=1, as pandas ``rolling(w).std()``)."""
    T, N = x.shape
    out = np.empty((T, N))
    _moments_rows(x, w, 3, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_count_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Number of finite values in the last ``w`` rows (NaN for the first ``w - 1`` rows)."""
    T, N = x.shape
    out = np.full((T, N), np.nan)
    n = np.zeros(N)
    for t in range(T):
        for j in range(N):
            n[j] += 1.0 if np.isfinite(x[t, j]) else 0.0
        if t >= w:
            for j in range(N):
                n[j] -= 1.0 if np.isfinite(x[t - w, j]) else 0.0
        if t >= w - 1:
            for j in range(N):
                out[t, j] = n[j]
    return out


# --------------------------------------------------------------------------- covariance / corr


@njit(cache=True, error_model="numpy")
def _pair_block(x, y, w, mode, eps, out, t0, t1):
    """Rows t0..t1-1: mode 0 cov (ddof=1), 1 corr (NaN where either window std <= eps)."""
    T = x.shape[0]
    m = x.shape[1]
    cx = np.zeros(m)
    cy = np.zeros(m)
    for jj in range(m if t0 == 0 else 0):  # later blocks re-centre at t0
        for k in range(T):
            if np.isfinite(x[k, jj]) and np.isfinite(y[k, jj]):
                cx[jj] = x[k, jj]
                cy[jj] = y[k, jj]
                break
    sx = np.zeros(m)
    sy = np.zeros(m)
    sxx = np.zeros(m)
    syy = np.zeros(m)
    sxy = np.zeros(m)
    bad = np.zeros(m)
    squares = mode == 1  # covariance needs no sums of squares
    inv_w = 1.0 / w
    inv_dof = 1.0 / (w - 1) if w > 1 else np.nan
    flat = eps * eps * (w - 1)  # std <= eps, in sums of squares
    period = _sync_period(w)
    for t in range(t0, t1):
        if (t % period) == 0 and t >= w:
            for jj in range(m):
                cx[jj] = 0.0  # a pure function of the window, so any row block can start here
                cy[jj] = 0.0
                for k in range(t, t - w, -1):
                    a = x[k, jj]
                    b = y[k, jj]
                    if np.isfinite(a) and np.isfinite(b):
                        cx[jj] = a
                        cy[jj] = b
                        break
            sx[:] = 0.0
            sy[:] = 0.0
            sxx[:] = 0.0
            syy[:] = 0.0
            sxy[:] = 0.0
            bad[:] = 0.0
            for k in range(t - w + 1, t + 1):
                for jj in range(m):
                    a = x[k, jj]
                    b = y[k, jj]
                    ok = np.isfinite(a) & np.isfinite(b)
                    da = a - cx[jj] if ok else 0.0
                    db = b - cy[jj] if ok else 0.0
                    sx[jj] += da
                    sy[jj] += db
                    if squares:
                        sxx[jj] += da * da
                        syy[jj] += db * db
                    sxy[jj] += da * db
                    bad[jj] += 0.0 if ok else 1.0
        else:
            for jj in range(m):
                a = x[t, jj]
                b = y[t, jj]
                ok = np.isfinite(a) & np.isfinite(b)
                da = a - cx[jj] if ok else 0.0
                db = b - cy[jj] if ok else 0.0
                sx[jj] += da
                sy[jj] += db
                if squares:
                    sxx[jj] += da * da
                    syy[jj] += db * db
                sxy[jj] += da * db
                bad[jj] += 0.0 if ok else 1.0
            if t >= w:
                for jj in range(m):
                    a = x[t - w, jj]
                    b = y[t - w, jj]
                    ok = np.isfinite(a) & np.isfinite(b)
                    da = a - cx[jj] if ok else 0.0
                    db = b - cy[jj] if ok else 0.0
                    sx[jj] -= da
                    sy[jj] -= db
                    if squares:
                        sxx[jj] -= da * da
                        syy[jj] -= db * db
                    sxy[jj] -= da * db
                    bad[jj] -= 0.0 if ok else 1.0
        if t < w - 1:
            for jj in range(m):
                out[t, jj] = np.nan
            continue
        if mode == 0:
            for jj in range(m):
                cov = (sxy[jj] - sx[jj] * sy[jj] * inv_w) * inv_dof
                out[t, jj] = cov if bad[jj] == 0.0 else np.nan
        else:
            for jj in range(m):  # the ddof factors cancel: one division and one root per value
                cxy = sxy[jj] - sx[jj] * sy[jj] * inv_w
                cxx = sxx[jj] - sx[jj] * sx[jj] * inv_w
                cyy = syy[jj] - sy[jj] * sy[jj] * inv_w
                ok = (bad[jj] == 0.0) & (cxx > flat) & (cyy > flat)
                out[t, jj] = cxy / np.sqrt(cxx * cyy) if ok else np.nan


@njit(cache=True, error_model="numpy")
def rolling_cov_nb(x: np.ndarray, y: np.ndarray, w: int) -> np.ndarray:
    """Rolling sample covariance of two aligned (T, N) arrays (ddof=1)."""
    T, N = x.shape
    out = np.empty((T, N))
    _pair_rows(x, y, w, 0, 0.0, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_corr_nb(x: np.ndarray, y: np.ndarray, w: int, eps: float = 2e-5) -> np.ndarray:
    """Rolling Pearson correlation; NaN where either window's std is <= ``eps`` (as Qlib)."""
    T, N = x.shape
    out = np.empty((T, N))
    _pair_rows(x, y, w, 1, eps, out)
    return out


# --------------------------------------------------------------------------- window loops


@njit(cache=True, error_model="numpy", parallel=True)
def _mad_block(x, w, out):
    """Mean absolute deviation: running mean, then one pass over the window per row.

    The window's rows are summed four per sweep over the columns (each column's terms still
    added one by one in row order, so the bits are those of one row per sweep).
    """
    T = x.shape[0]
    m = x.shape[1]
    _moments_rows(x, w, 1, out)  # out holds the window mean (NaN if invalid)
    bounds = row_bounds_nb(T, 1)
    for b in prange(bounds.shape[0] - 1):
        acc = np.zeros(m)
        for t in range(max(w - 1, bounds[b]), bounds[b + 1]):
            mean = out[t]
            acc[:] = 0.0
            k = t - w + 1
            while k + 4 <= t + 1:  # four window rows per sweep, added in row order
                r0 = x[k]
                r1 = x[k + 1]
                r2 = x[k + 2]
                r3 = x[k + 3]
                for jj in range(m):
                    mu = mean[jj]
                    a = acc[jj] + abs(r0[jj] - mu)
                    a += abs(r1[jj] - mu)
                    a += abs(r2[jj] - mu)
                    acc[jj] = a + abs(r3[jj] - mu)
                k += 4
            for kk in range(k, t + 1):
                for jj in range(m):
                    acc[jj] += abs(x[kk, jj] - mean[jj])
            for jj in range(m):
                mean[jj] = acc[jj] / w


@njit(cache=True, error_model="numpy")
def rolling_mad_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling mean absolute deviation around the window mean (Qlib Mad)."""
    T, N = x.shape
    out = np.empty((T, N))
    _mad_block(x, w, out)
    return out


@njit(cache=True, error_model="numpy")
def _moment_col(x, w, out, mode):
    """mode 1 skew, 2 kurt (pandas bias-corrected), exact two-pass per window."""
    T = x.shape[0]
    last_bad = -1
    for t in range(T):
        if not np.isfinite(x[t]):
            last_bad = t
        if t < w - 1 or last_bad > t - w:
            continue
        m = 0.0
        for k in range(t - w + 1, t + 1):
            m += x[k]
        m /= w
        m2 = 0.0
        m3 = 0.0
        m4 = 0.0
        for k in range(t - w + 1, t + 1):
            d = x[k] - m
            d2 = d * d
            m2 += d2
            m3 += d2 * d
            m4 += d2 * d2
        m2 /= w
        m3 /= w
        m4 /= w
        if m2 <= 1e-14 * max(m * m, 1e-300):
            continue
        n = float(w)
        if mode == 1:
            out[t] = np.sqrt(n * (n - 1.0)) / (n - 2.0) * m3 / m2**1.5
        else:
            k4 = (n * n - 1.0) * m4 / (m2 * m2) - 3.0 * (n - 1.0) ** 2
            out[t] = k4 / ((n - 2.0) * (n - 3.0))


@njit(cache=True, parallel=True, error_model="numpy")
def rolling_skew_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling sample skewness, bias-corrected as pandas ``rolling(w).skew()``."""
    T, N = x.shape
    out = np.full((T, N), np.nan)
    for j in prange(N):
        _moment_col(x[:, j], w, out[:, j], 1)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def rolling_kurt_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling excess kurtosis, bias-corrected as pandas ``rolling(w).kurt()``."""
    T, N = x.shape
    out = np.full((T, N), np.nan)
    for j in prange(N):
        _moment_col(x[:, j], w, out[:, j], 2)
    return out


# --------------------------------------------------------------------------- weighted / trend


@njit(cache=True, error_model="numpy")
def _linear_block(x, w, mode, eps, out, t0, t1):
    """Running sums of y and k*y (k = 1..w, oldest = 1) over a full window.

    mode 0 WMA (Qlib: sum(k*y)/sum(k)/w), 1 slope, 2 rsquare, 3 residual of the last point.
    Rows t0..t1-1.
    """
    m = x.shape[1]
    kw = float(w)
    k1 = kw * (kw + 1.0) / 2.0
    k2 = kw * (kw + 1.0) * (2.0 * kw + 1.0) / 6.0
    den_x = kw * k2 - k1 * k1
    inv_den = 1.0 / den_x
    inv_k1w = 1.0 / (k1 * kw)
    c = _first_centres(x, m) if t0 == 0 else np.zeros(m)  # later blocks re-centre at t0
    s = np.zeros(m)
    sk = np.zeros(m)
    sq = np.zeros(m)
    bad = np.zeros(m)
    period = _sync_period(w)
    for t in range(t0, t1):
        if (t % period) == 0 and t >= w:
            _recentre(x, c, t, w)
            s[:] = 0.0
            sk[:] = 0.0
            sq[:] = 0.0
            bad[:] = 0.0
            for i in range(w):
                for jj in range(m):
                    u = x[t - w + 1 + i, jj]
                    ok = np.isfinite(u)
                    d = u - c[jj] if ok else 0.0
                    s[jj] += d
                    sk[jj] += (i + 1) * d
                    sq[jj] += d * d
                    bad[jj] += 0.0 if ok else 1.0
        else:
            # shift: every weight drops by one, the oldest (weight 1) leaves
            for jj in range(m):
                sk[jj] -= s[jj]
            if t >= w:
                for jj in range(m):
                    u = x[t - w, jj]
                    ok = np.isfinite(u)
                    d = u - c[jj] if ok else 0.0
                    s[jj] -= d
                    sq[jj] -= d * d
                    bad[jj] -= 0.0 if ok else 1.0
            for jj in range(m):
                v = x[t, jj]
                ok = np.isfinite(v)
                d = v - c[jj] if ok else 0.0
                s[jj] += d
                sk[jj] += kw * d
                sq[jj] += d * d
                bad[jj] += 0.0 if ok else 1.0
        if t < w - 1:
            for jj in range(m):
                out[t, jj] = np.nan
            continue
        if mode == 0:
            for jj in range(m):
                val = (sk[jj] + c[jj] * k1) * inv_k1w
                out[t, jj] = val if bad[jj] == 0.0 else np.nan
        elif mode == 1:
            for jj in range(m):
                slope = (kw * sk[jj] - k1 * s[jj]) * inv_den
                out[t, jj] = slope if bad[jj] == 0.0 else np.nan
        elif mode == 3:
            for jj in range(m):
                slope = (kw * sk[jj] - k1 * s[jj]) * inv_den
                intercept = s[jj] / kw - slope * k1 / kw
                val = (x[t, jj] - c[jj]) - (slope * kw + intercept)
                out[t, jj] = val if bad[jj] == 0.0 else np.nan
        else:
            for jj in range(m):
                vy = kw * sq[jj] - s[jj] * s[jj]
                var = vy / (kw * (kw - 1.0))
                ok = (bad[jj] == 0.0) & (var > eps * eps) & (vy > 0.0)
                r = (kw * sk[jj] - k1 * s[jj]) / np.sqrt(den_x * vy) if ok else np.nan
                out[t, jj] = r * r


@njit(cache=True, error_model="numpy")
def rolling_wma_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Qlib WMA: weights 1..w (newest heaviest) normalised to sum 1, then averaged (divided by w)."""
    T, N = x.shape
    out = np.empty((T, N))
    _linear_rows(x, w, 0, 0.0, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_slope_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Least-squares slope of the window regressed on 1..w (Qlib Slope)."""
    T, N = x.shape
    out = np.empty((T, N))
    _linear_rows(x, w, 1, 0.0, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_rsquare_nb(x: np.ndarray, w: int, eps: float = 2e-5) -> np.ndarray:
    """R^2 of the window regressed on 1..w; NaN where the window std <= ``eps`` (Qlib Rsquare)."""
    T, N = x.shape
    out = np.empty((T, N))
    _linear_rows(x, w, 2, eps, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_resi_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Residual of the last point from the window's regression on 1..w (Qlib Resi)."""
    T, N = x.shape
    out = np.empty((T, N))
    _linear_rows(x, w, 3, 0.0, out)
    return out


# --------------------------------------------------------------------------- EMA


@njit(cache=True, error_model="numpy")
def _ewm_block(x, alpha, w, out):
    T = x.shape[0]
    m = x.shape[1]
    decay = 1.0 - alpha
    num = np.zeros(m)
    den = np.zeros(m)
    bad = np.zeros(m)
    for t in range(T):
        if t >= w:  # the steady state: one fused pass per row (the bits of the three passes)
            for jj in range(m):
                v = x[t, jj]
                ok = np.isfinite(v)
                n = num[jj] * decay + (v if ok else 0.0)
                d = den[jj] * decay + (1.0 if ok else 0.0)
                nb = bad[jj] + (0.0 if ok else 1.0)
                nb -= 0.0 if np.isfinite(x[t - w, jj]) else 1.0
                num[jj] = n
                den[jj] = d
                bad[jj] = nb
                good = (nb == 0.0) & (d > 0.0)
                out[t, jj] = n / d if good else np.nan
            continue
        for jj in range(m):
            v = x[t, jj]
            ok = np.isfinite(v)
            num[jj] = num[jj] * decay + (v if ok else 0.0)
            den[jj] = den[jj] * decay + (1.0 if ok else 0.0)
            bad[jj] += 0.0 if ok else 1.0
        if t >= w:
            for jj in range(m):
                bad[jj] -= 0.0 if np.isfinite(x[t - w, jj]) else 1.0
        if t < w - 1:
            for jj in range(m):
                out[t, jj] = np.nan
            continue
        for jj in range(m):
            ok = (bad[jj] == 0.0) & (den[jj] > 0.0)
            out[t, jj] = num[jj] / den[jj] if ok else np.nan


@njit(cache=True, error_model="numpy")
def ewm_mean_nb(x: np.ndarray, alpha: float, w: int) -> np.ndarray:
    """Exponentially weighted mean, pandas ``ewm(alpha=alpha, adjust=True).mean()`` recursion.

    The whole history up to ``t`` enters (non-finite values are skipped, decay continues, as
    pandas ``ignore_na=False``); the value at ``t`` is reported only when the last ``w`` rows are
    all finite.
    """
    out = np.empty(x.shape)
    _ewm_block(x, alpha, w, out)
    return out
