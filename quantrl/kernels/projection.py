"""Per-date regression residuals and factor sums for the alpha pool, on (T, N) arrays.

``neutralize_rows_nb`` removes from each date's factor values its least-squares fit on a design
of exposures (an intercept and k styles) and re-standardises the residual; the design's normal
matrix inverse is precomputed per date, so a factor that is finite wherever the exposures are
costs two passes over its row. A date where the factor has extra missing cells is solved on its
own cells instead: the precomputed normal matrix less the missing cells' outer products when
they are few, summed afresh when they are many, then a small Cholesky solve. ``factor_sums_nb`` and ``cross_sums_nb`` make the per-date
sums the pool keeps: sum z, sum z^2, sum z * label, and sum z * member. Rows (dates) are independent: no
kernel here reads another date's values. Row sums run in a fixed order (``quantrl.kernels.lanes``),
so a seed gives the same bits in every process.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantrl.kernels.correlation import _blocks
from quantrl.kernels.lanes import dot4_nb, dot_nb

__all__ = ["combination_ic_nb", "cross_sums", "factor_sums", "neutralize_rows_into"]

#: Ridge added to every normal matrix (as the reference per-date solve does).
RIDGE = 1e-9


@njit(cache=True, inline="always")
def _lanes_total(l0, l1, l2, l3, l4, l5, l6, l7):
    """The fixed pairwise order in which ``quantrl.kernels.lanes`` adds its eight lanes."""
    return ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))


@njit(cache=True)
def _used_row_nb(vals, okr, zr, used, zz):
    """used = finite value and exposures ok; zz = z on used cells, 0 elsewhere; returns
    (count of used, count of ok, sum of zz^2 in ``lanes`` order)."""
    n_cols = vals.shape[0]
    m = n_cols - n_cols % 8
    n = 0
    n_ok = 0
    q0 = q1 = q2 = q3 = q4 = q5 = q6 = q7 = 0.0
    for j0 in range(0, m, 8):
        for j in range(j0, j0 + 8):
            u = np.isfinite(vals[j]) and okr[j]
            used[j] = 1.0 if u else 0.0
            zz[j] = zr[j] if u else 0.0
            n += 1 if u else 0
            n_ok += 1 if okr[j] else 0
        q0 += zz[j0] * zz[j0]
        q1 += zz[j0 + 1] * zz[j0 + 1]
        q2 += zz[j0 + 2] * zz[j0 + 2]
        q3 += zz[j0 + 3] * zz[j0 + 3]
        q4 += zz[j0 + 4] * zz[j0 + 4]
        q5 += zz[j0 + 5] * zz[j0 + 5]
        q6 += zz[j0 + 6] * zz[j0 + 6]
        q7 += zz[j0 + 7] * zz[j0 + 7]
    for j in range(m, n_cols):
        u = np.isfinite(vals[j]) and okr[j]
        used[j] = 1.0 if u else 0.0
        zz[j] = zr[j] if u else 0.0
        n += 1 if u else 0
        n_ok += 1 if okr[j] else 0
        q0 += zz[j] * zz[j]
    return float(n), float(n_ok), _lanes_total(q0, q1, q2, q3, q4, q5, q6, q7)


@njit(cache=True)
def _residual_row_nb(zz, used, design_t, beta, res):
    """res = (zz - sum_a beta_a design_t[a]) * used (subtracted in order a = 0, 1, ...);
    returns (sum res^2, sum res) in ``lanes`` order."""
    n_cols = zz.shape[0]
    k = design_t.shape[0]
    m = n_cols - n_cols % 8
    for j in range(n_cols):
        res[j] = zz[j]
    for a in range(k):
        col = design_t[a]
        ba = beta[a]
        for j in range(n_cols):
            res[j] -= ba * col[j]
    for j in range(n_cols):
        res[j] *= used[j]
    q0 = q1 = q2 = q3 = q4 = q5 = q6 = q7 = 0.0
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for j in range(0, m, 8):
        q0 += res[j] * res[j]
        q1 += res[j + 1] * res[j + 1]
        q2 += res[j + 2] * res[j + 2]
        q3 += res[j + 3] * res[j + 3]
        q4 += res[j + 4] * res[j + 4]
        q5 += res[j + 5] * res[j + 5]
        q6 += res[j + 6] * res[j + 6]
        q7 += res[j + 7] * res[j + 7]
        s0 += res[j]
        s1 += res[j + 1]
        s2 += res[j + 2]
        s3 += res[j + 3]
        s4 += res[j + 4]
        s5 += res[j + 5]
        s6 += res[j + 6]
        s7 += res[j + 7]
    for j in range(m, n_cols):
        q0 += res[j] * res[j]
        s0 += res[j]
    return _lanes_total(q0, q1, q2, q3, q4, q5, q6, q7), _lanes_total(
        s0, s1, s2, s3, s4, s5, s6, s7
    )


@njit(cache=True)
def _deviation_ss_nb(res, used, mean):
    """Sum of ((res - mean) * used)^2 in ``lanes`` order."""
    n_cols = res.shape[0]
    m = n_cols - n_cols % 8
    q0 = q1 = q2 = q3 = q4 = q5 = q6 = q7 = 0.0
    for j in range(0, m, 8):
        d0 = (res[j] - mean) * used[j]
        d1 = (res[j + 1] - mean) * used[j + 1]
        d2 = (res[j + 2] - mean) * used[j + 2]
        d3 = (res[j + 3] - mean) * used[j + 3]
        d4 = (res[j + 4] - mean) * used[j + 4]
        d5 = (res[j + 5] - mean) * used[j + 5]
        d6 = (res[j + 6] - mean) * used[j + 6]
        d7 = (res[j + 7] - mean) * used[j + 7]
        q0 += d0 * d0
        q1 += d1 * d1
        q2 += d2 * d2
        q3 += d3 * d3
        q4 += d4 * d4
        q5 += d5 * d5
        q6 += d6 * d6
        q7 += d7 * d7
    for j in range(m, n_cols):
        d = (res[j] - mean) * used[j]
        q0 += d * d
    return _lanes_total(q0, q1, q2, q3, q4, q5, q6, q7)


_DOWNDATE_SHARE = 8
"""A date whose factor misses at most 1/8 of the exposures' cells takes the precomputed normal
matrix less those cells' outer products (the rest cancels at most ~3 bits of its precision)."""


@njit(cache=True)
def _downdated_gram_nb(gram_t, design_t, okr, used, gram):
    """``gram_t`` less the outer products of the design columns where ``okr`` holds but the
    factor is missing (``used`` 0), into ``gram`` (k, k)."""
    k = design_t.shape[0]
    for a in range(k):
        for b in range(k):
            gram[a, b] = gram_t[a, b]
    for j in range(okr.shape[0]):
        if okr[j] and used[j] == 0.0:
            for a in range(k):
                da = design_t[a, j]
                for b in range(a + 1):
                    gram[a, b] -= da * design_t[b, j]
    for a in range(k):
        for b in range(a):
            gram[b, a] = gram[a, b]


@njit(cache=True)
def _direct_gram_nb(design_t, used, res, gram):
    """Normal matrix of the design over the ``used`` cells plus ``RIDGE`` on its diagonal."""
    k = design_t.shape[0]
    for a in range(k):
        # sum of (c_a c_b) * used, as c_a * used is c_a or 0 and adding a signed zero to a sum
        # leaves it as it is: the same bits with one stream less
        ca = design_t[a]
        for j in range(ca.shape[0]):
            res[j] = ca[j] * used[j]
        b = 0
        while b + 4 <= a + 1:
            gram[a, b], gram[a, b + 1], gram[a, b + 2], gram[a, b + 3] = dot4_nb(
                res, design_t[b], design_t[b + 1], design_t[b + 2], design_t[b + 3]
            )
            b += 4
        for r in range(b, a + 1):
            gram[a, r] = dot_nb(res, design_t[r])
        for r in range(a):
            gram[r, a] = gram[a, r]
        gram[a, a] += RIDGE


@njit(cache=True)
def _solve_spd_nb(a, rhs, chol, out):
    """Solve ``a x = rhs`` by Cholesky for a small symmetric positive definite ``a``; returns
    False (``out`` unset) when a pivot is not positive, the matrix being numerically singular."""
    k = a.shape[0]
    for i in range(k):
        for j in range(i + 1):
            acc = a[i, j]
            for r in range(j):
                acc -= chol[i, r] * chol[j, r]
            if i == j:
                if not acc > 1e-13 * abs(a[i, i]):
                    return False
                chol[i, i] = np.sqrt(acc)
            else:
                chol[i, j] = acc / chol[j, j]
    for i in range(k):  # forward: L y = rhs
        acc = rhs[i]
        for r in range(i):
            acc -= chol[i, r] * out[r]
        out[i] = acc / chol[i, i]
    for i in range(k - 1, -1, -1):  # back: L' x = y
        acc = out[i]
        for r in range(i + 1, k):
            acc -= chol[r, i] * out[r]
        out[i] = acc / chol[i, i]
    return True


@njit(cache=True, parallel=True)
def neutralize_rows_nb(
    values: np.ndarray,
    z: np.ndarray,
    ok: np.ndarray,
    design: np.ndarray,
    gram_full: np.ndarray,
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
    ``RIDGE`` on its diagonal: ``gram_full[t]`` less the missing cells when they are at most
    1/8 of ``ok``'s, else summed over the used cells) is solved by Cholesky. A residual at rounding level (sum of squares <= 1e-10
    of the factor's) is 0. The residual is z-scored (ddof=0) over the used cells (0 for < 2
    cells or no variance); other cells, and with ``masked`` the cells outside ``universe``, are 0.
    Four passes over a date's cells (used cells, residual and its sums, spread, output); every
    sum runs in ``quantrl.kernels.lanes``' fixed order.
    """
    t_len, n_cols = values.shape
    k = design.shape[1]
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        used = np.empty(n_cols, dtype=np.float64)
        zz = np.empty(n_cols, dtype=np.float64)
        res = np.empty(n_cols, dtype=np.float64)
        rhs = np.empty(k, dtype=np.float64)
        beta = np.empty(k, dtype=np.float64)
        gram = np.empty((k, k), dtype=np.float64)
        chol = np.zeros((k, k), dtype=np.float64)
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            n, n_ok, ss_z = _used_row_nb(values[t], ok[t], z[t], used, zz)
            if n == 0.0:  # nothing to fit or standardise: the row is 0
                out[t, :] = 0.0
                continue
            a = 0
            while a + 4 <= k:  # four exposures per pass, each sum in dot_nb's order
                rhs[a], rhs[a + 1], rhs[a + 2], rhs[a + 3] = dot4_nb(
                    zz, design[t, a], design[t, a + 1], design[t, a + 2], design[t, a + 3]
                )
                a += 4
            for r in range(a, k):
                rhs[r] = dot_nb(design[t, r], zz)
            if n == n_ok:  # the factor is finite wherever the exposures are
                for a in range(k):
                    acc = 0.0
                    for b in range(k):
                        acc += gram_inv[t, a, b] * rhs[b]
                    beta[a] = acc
            else:  # extra missing cells: solve this date's own normal equations
                if (n_ok - n) * _DOWNDATE_SHARE <= n_ok:
                    _downdated_gram_nb(gram_full[t], design[t], ok[t], used, gram)
                else:
                    _direct_gram_nb(design[t], used, res, gram)
                if not _solve_spd_nb(gram, rhs, chol, beta):
                    beta[:] = np.linalg.lstsq(gram, rhs)[0]
            ss_res, total = _residual_row_nb(zz, used, design[t], beta, res)
            if ss_res <= 1e-10 * max(ss_z, 1e-300):
                res[:] = 0.0
                total = 0.0
            mean = total / n if n > 0 else 0.0
            ss = _deviation_ss_nb(res, used, mean)
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
    gram: np.ndarray,
    gram_inv: np.ndarray,
    out: np.ndarray,
    universe: np.ndarray | None = None,
) -> np.ndarray:
    """Typed wrapper of ``neutralize_rows_nb``: (T, N) values and transformed ``z``, (T, N) bool
    ``ok``, (T, k, N) ``design``, (T, k, k) ``gram`` (its normal matrices over ``ok`` plus
    ``RIDGE``) and ``gram_inv`` (their inverses); writes into and returns ``out``."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    shape = x.shape
    if z.shape != shape or ok.shape != shape or out.shape != shape:
        raise ValueError(f"values {shape}, z {z.shape}, ok {ok.shape}, out {out.shape} differ")
    k = design.shape[1]
    if (
        design.shape != (shape[0], k, shape[1])
        or gram.shape != (shape[0], k, k)
        or gram_inv.shape != (shape[0], k, k)
    ):
        raise ValueError(
            f"design {design.shape} / gram {gram.shape} / gram_inv {gram_inv.shape} do not fit"
            f" {shape}"
        )
    masked = universe is not None
    uni = universe if universe is not None else np.ones((1, 1), dtype=np.bool_)
    if masked and uni.shape != shape:
        raise ValueError(f"universe {uni.shape} differs from {shape}")
    neutralize_rows_nb(
        x,
        np.ascontiguousarray(z),
        ok,
        design,
        gram,
        gram_inv,
        uni,
        masked,
        out,
        _blocks(shape[0]),
    )
    return out


@njit(cache=True, parallel=True)
def factor_sums_nb(
    z: np.ndarray,
    y_std: np.ndarray,
    y_c: np.ndarray,
    s: np.ndarray,
    zz: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    n_blocks: int,
) -> None:
    """Per-date sums of ``z`` (T, N): sum z, sum z^2, sum z * ``y_std`` and sum z * ``y_c``."""
    t_len, n_cols = z.shape
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        ones = np.ones(n_cols)  # sum z is sum z * 1, bit for bit
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            v = z[t]
            s[t], zz[t], b[t], c[t] = dot4_nb(v, ones, v, y_std[t], y_c[t])


@njit(cache=True, parallel=True)
def cross_sums_nb(
    zbuf: np.ndarray, z: np.ndarray, members: np.ndarray, cross: np.ndarray, n_blocks: int
) -> None:
    """Per-date sum of ``z`` (T, N) times member ``zbuf[:, members[i]]`` into ``cross[:, i]``
    (``zbuf`` is (T, slots, N)), four members per pass over a date's row."""
    t_len = z.shape[0]
    k = members.shape[0]
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            v = z[t]
            zt = zbuf[t]
            i = 0
            while i + 4 <= k:
                cross[t, i], cross[t, i + 1], cross[t, i + 2], cross[t, i + 3] = dot4_nb(
                    v, zt[members[i]], zt[members[i + 1]], zt[members[i + 2]], zt[members[i + 3]]
                )
                i += 4
            for r in range(i, k):
                cross[t, r] = dot_nb(v, zt[members[r]])


def factor_sums(
    z: np.ndarray, y_std: np.ndarray, y_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(s, zz, b, c) of ``factor_sums_nb``, each (T,)."""
    t_len = z.shape[0]
    s, zz, b, c = (np.empty(t_len) for _ in range(4))
    factor_sums_nb(z, y_std, y_c, s, zz, b, c, _blocks(t_len))
    return s, zz, b, c


def cross_sums(zbuf: np.ndarray, z: np.ndarray, members: np.ndarray) -> np.ndarray:
    """(T, k) per-date sums of ``z`` times each member of ``zbuf`` (``cross_sums_nb``)."""
    idx = np.ascontiguousarray(members, dtype=np.int64)
    cross = np.empty((z.shape[0], idx.shape[0]))
    cross_sums_nb(zbuf, z, idx, cross, _blocks(z.shape[0]))
    return cross


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
