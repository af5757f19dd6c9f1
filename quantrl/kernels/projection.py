"""Per-date regression residuals and factor sums for the alpha pool, on (T, N) arrays.

``neutralize_rows_nb`` removes from each date's factor values its least-squares fit on a design
of exposures (an intercept and k styles) and re-standardises the residual; the design's normal
matrix inverse is precomputed per date, so a factor that is finite wherever the exposures are
costs two passes over its row. A date where the factor has extra missing cells is solved
exactly on its own cells instead. ``factor_sums_nb`` makes the per-date sums the
pool keeps: sum z, sum z^2, sum z * member, sum z * label. Rows (dates) are independent: no
kernel here reads another date's values. Row sums run in a fixed order (``quantrl.kernels.lanes``),
so a seed gives the same bits in every process.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantrl.kernels.correlation import _blocks
from quantrl.kernels.lanes import dot3_nb, dot_nb, sum_nb

__all__ = ["combination_ic_nb", "factor_sums", "neutralize_rows_into"]

#: Ridge added to every normal matrix (as the reference per-date solve does).
RIDGE = 1e-9


@njit(cache=True, parallel=True)
def neutralize_rows_nb(
    values: np.ndarray,
    z: np.ndarray,
    ok: np.ndarray,
    design: np.ndarray,
    gram_inv: np.ndarray,
    universe: np.ndarray,
    masked: bool,
    out: np.ndarray,
    n_blocks: int,
) -> None:
    """Residual of ``z`` on ``design`` (T, k, N) per date, re-standardised, into ``out``.

    ``out`` may be ``z``. Cells used on date t: ``values`` finite and ``ok`` (the exposures
    finite; ``design`` is 0 elsewhere). When those are all of ``ok``'s cells, the coefficients
    are ``gram_inv[t] @ design[t] z``; otherwise the normal matrix of the used cells (plus
    ``RIDGE`` on its diagonal) is solved. A residual at rounding level (sum of squares <= 1e-10
    of the factor's) is 0. The residual is z-scored (ddof=0) over the used cells (0 for < 2
    cells or no variance); other cells, and with ``masked`` the cells outside ``universe``, are 0.
    """
    t_len, n_cols = values.shape
    k = design.shape[1]
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        used = np.empty(n_cols, dtype=np.float64)
        zz = np.empty(n_cols, dtype=np.float64)
        res = np.empty(n_cols, dtype=np.float64)
        dev = np.empty(n_cols, dtype=np.float64)
        rhs = np.empty(k, dtype=np.float64)
        beta = np.empty(k, dtype=np.float64)
        gram = np.empty((k, k), dtype=np.float64)
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            vals = values[t]
            okr = ok[t]
            zr = z[t]
            n = 0.0
            n_ok = 0.0
            for j in range(n_cols):
                u = np.isfinite(vals[j]) and okr[j]
                used[j] = 1.0 if u else 0.0
                zz[j] = zr[j] if u else 0.0
                n += used[j]
                n_ok += 1.0 if okr[j] else 0.0
            for a in range(k):
                rhs[a] = dot_nb(design[t, a], zz)
            if n == n_ok:  # the factor is finite wherever the exposures are
                for a in range(k):
                    acc = 0.0
                    for b in range(k):
                        acc += gram_inv[t, a, b] * rhs[b]
                    beta[a] = acc
            else:  # extra missing cells: solve this date's own normal equations
                for a in range(k):
                    ca = design[t, a]
                    for b in range(a + 1):
                        acc = dot3_nb(ca, design[t, b], used)
                        gram[a, b] = acc
                        gram[b, a] = acc
                    gram[a, a] += RIDGE
                beta[:] = np.linalg.solve(gram, rhs)
            for j in range(n_cols):
                res[j] = zz[j]
            for a in range(k):
                col = design[t, a]
                ba = beta[a]
                for j in range(n_cols):
                    res[j] -= ba * col[j]
            for j in range(n_cols):
                res[j] *= used[j]
            ss_res = dot_nb(res, res)
            ss_z = dot_nb(zz, zz)
            total = sum_nb(res)
            if ss_res <= 1e-10 * max(ss_z, 1e-300):
                res[:] = 0.0
                total = 0.0
            mean = total / n if n > 0 else 0.0
            for j in range(n_cols):
                dev[j] = (res[j] - mean) * used[j]
            ss = dot_nb(dev, dev)
            std = np.sqrt(ss / n) if n > 0 else 0.0
            good = n >= 2 and std > 1e-12 * (abs(mean) + 1.0)
            scale = 1.0 / std if good else 0.0
            orow = out[t]
            if masked:
                ur = universe[t]
                for j in range(n_cols):
                    keep = used[j] * (1.0 if ur[j] else 0.0)
                    orow[j] = (res[j] - mean) * scale * keep
            else:
                for j in range(n_cols):
                    orow[j] = (res[j] - mean) * scale * used[j]


def neutralize_rows_into(
    values: np.ndarray,
    z: np.ndarray,
    ok: np.ndarray,
    design: np.ndarray,
    gram_inv: np.ndarray,
    out: np.ndarray,
    universe: np.ndarray | None = None,
) -> np.ndarray:
    """Typed wrapper of ``neutralize_rows_nb``: (T, N) values and transformed ``z``, (T, N) bool
    ``ok``, (T, k, N) ``design``, (T, k, k) ``gram_inv``; writes into and returns ``out``."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    shape = x.shape
    if z.shape != shape or ok.shape != shape or out.shape != shape:
        raise ValueError(f"values {shape}, z {z.shape}, ok {ok.shape}, out {out.shape} differ")
    k = design.shape[1]
    if design.shape != (shape[0], k, shape[1]) or gram_inv.shape != (shape[0], k, k):
        raise ValueError(f"design {design.shape} / gram_inv {gram_inv.shape} do not fit {shape}")
    masked = universe is not None
    uni = universe if universe is not None else np.ones((1, 1), dtype=np.bool_)
    if masked and uni.shape != shape:
        raise ValueError(f"universe {uni.shape} differs from {shape}")
    neutralize_rows_nb(
        x,
        np.ascontiguousarray(z),
        ok,
        design,
        gram_inv,
        uni,
        masked,
        out,
        _blocks(shape[0]),
    )
    return out


@njit(cache=True, parallel=True)
def factor_sums_nb(
    zbuf: np.ndarray,
    z: np.ndarray,
    members: np.ndarray,
    y_std: np.ndarray,
    y_c: np.ndarray,
    s: np.ndarray,
    zz: np.ndarray,
    cross: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    n_blocks: int,
) -> None:
    """Per-date sums of ``z`` (T, N): sum z, sum z^2, sum z * member ``zbuf[:, members[i]]``
    (into ``cross[:, i]``; ``zbuf`` is (T, slots, N)), sum z * ``y_std`` and sum z * ``y_c``."""
    t_len, n_cols = z.shape
    k = members.shape[0]
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            v = z[t]
            ys = y_std[t]
            yc = y_c[t]
            s[t] = sum_nb(v)
            zz[t] = dot_nb(v, v)
            b[t] = dot_nb(v, ys)
            c[t] = dot_nb(v, yc)
            for i in range(k):
                cross[t, i] = dot_nb(v, zbuf[t, members[i]])


def factor_sums(
    zbuf: np.ndarray, z: np.ndarray, members: np.ndarray, y_std: np.ndarray, y_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(s, zz, cross, b, c) of ``factor_sums_nb``: (T,), (T,), (T, k), (T,), (T,)."""
    t_len = z.shape[0]
    idx = np.ascontiguousarray(members, dtype=np.int64)
    s = np.empty(t_len)
    zz = np.empty(t_len)
    cross = np.empty((t_len, idx.shape[0]))
    b = np.empty(t_len)
    c = np.empty(t_len)
    factor_sums_nb(zbuf, z, idx, y_std, y_c, s, zz, cross, b, c, _blocks(t_len))
    return s, zz, cross, b, c


@njit(cache=True)
def combination_ic_nb(
    s: np.ndarray,
    g: np.ndarray,
    c: np.ndarray,
    w: np.ndarray,
    n: np.ndarray,
    y_ss: np.ndarray,
    usable: np.ndarray,
) -> np.ndarray:
    """Per-date Pearson IC of the combination ``w`` of factors from their per-date sums.

    ``s`` (T, k) sums, ``g`` (T, k, k) cross sums, ``c`` (T, k) sums with the centred label,
    ``n`` (T,) counts, ``y_ss`` (T,) the label's centred sum of squares. NaN on dates that are
    not ``usable`` or where the combination's variance is <= 1e-12 max(trace g, 1).
    """
    t_len, k = s.shape
    out = np.empty(t_len)
    for t in range(t_len):
        sw = 0.0
        num = 0.0
        quad = 0.0
        trace = 0.0
        for i in range(k):
            sw += s[t, i] * w[i]
            num += c[t, i] * w[i]
            trace += g[t, i, i]
            row = 0.0
            for j in range(k):
                row += g[t, i, j] * w[j]
            quad += row * w[i]
        count = n[t] if n[t] > 0 else 1.0
        var = quad - sw * sw / count
        if usable[t] and var > 1e-12 * max(trace, 1.0):
            out[t] = num / np.sqrt(var * y_ss[t])
        else:
            out[t] = np.nan
    return out
