"""Per-date cross-sectional statistics on (T, N) arrays: Pearson, Spearman, ranks, quantiles.

Every kernel treats a cell as missing when it is not finite (NaN or +-inf). Rows are dates and
are processed independently (``prange`` over dates); nothing ever mixes two dates except the
explicitly lagged kernels (``rank_kl_stability_nb``, ``top_quantile_turnover_nb``), which read
rows t and t-1 only.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from quantrl.kernels.lanes import dot4_nb, dot_nb, sum_nb


@njit(cache=True)
def average_rank_nb(values: np.ndarray) -> np.ndarray:
    """Average ranks 1..n of a 1-D finite array (tied values share the mean of their ranks)."""
    n = values.shape[0]
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(n, dtype=np.float64)
    i = 0
    while i < n:
        j = i
        v = values[order[i]]
        while j + 1 < n and values[order[j + 1]] == v:
            j += 1
        avg = 0.5 * (i + j) + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        i = j + 1
    return ranks


@njit(cache=True, inline="always")
def corr_from_sums_nb(sxy: float, sxx: float, syy: float) -> float:
    """Correlation from centred sums, clipped to [-1, 1]; NaN when either side has no variance."""
    if sxx <= 0.0 or syy <= 0.0:
        return np.nan
    return max(-1.0, min(1.0, sxy / np.sqrt(sxx * syy)))


@njit(cache=True)
def _pearson_1d_nb(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two finite 1-D arrays; NaN for < 2 points or a constant input."""
    n = x.shape[0]
    if n < 2:
        return np.nan
    xmin = x[0]
    xmax = x[0]
    ymin = y[0]
    ymax = y[0]
    sx = 0.0
    sy = 0.0
    for i in range(n):
        sx += x[i]
        sy += y[i]
        xmin = min(xmin, x[i])
        xmax = max(xmax, x[i])
        ymin = min(ymin, y[i])
        ymax = max(ymax, y[i])
    if xmin == xmax or ymin == ymax:
        return np.nan
    mx = sx / n
    my = sy / n
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for i in range(n):
        dx = x[i] - mx
        dy = y[i] - my
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    return corr_from_sums_nb(sxy, sxx, syy)


@njit(cache=True)
def _valid_pairs_nb(xrow: np.ndarray, yrow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entries of two rows where both are finite."""
    n = xrow.shape[0]
    count = 0
    for j in range(n):
        if np.isfinite(xrow[j]) and np.isfinite(yrow[j]):
            count += 1
    xs = np.empty(count, dtype=np.float64)
    ys = np.empty(count, dtype=np.float64)
    k = 0
    for j in range(n):
        if np.isfinite(xrow[j]) and np.isfinite(yrow[j]):
            xs[k] = xrow[j]
            ys[k] = yrow[j]
            k += 1
    return xs, ys


@njit(cache=True)
def _constant_nb(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether ``x`` takes one value over the entries where both rows are finite."""
    first = np.nan
    for j in range(x.shape[0]):
        if np.isfinite(x[j]) and np.isfinite(y[j]):
            if first != first:
                first = x[j]
            elif x[j] != first:
                return False
    return True


@njit(cache=True)
def _pearson_row_nb(x: np.ndarray, y: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> float:
    """Pearson correlation of two rows over the entries finite in both (see ``pearson_rows_nb``);
    ``dx`` and ``dy`` are scratch rows."""
    n_cols = x.shape[0]
    count = 0
    for j in range(n_cols):
        a = x[j]
        b = y[j]
        ok = np.isfinite(a) and np.isfinite(b)
        count += 1 if ok else 0
        dx[j] = a if ok else 0.0
        dy[j] = b if ok else 0.0
    if count < 2:
        return np.nan
    n = float(count)
    mx = sum_nb(dx) / n
    my = sum_nb(dy) / n
    for j in range(n_cols):
        a = x[j]
        b = y[j]
        ok = np.isfinite(a) and np.isfinite(b)
        dx[j] = a - mx if ok else 0.0
        dy[j] = b - my if ok else 0.0
    sxy, sxx, _, _ = dot4_nb(dx, dy, dx, dx, dx)  # one pass for x.y and x.x (as fast as fused)
    syy = dot_nb(dy, dy)
    # a constant side leaves only rounding in its sum of squares: decide those rows exactly
    tiny = 64.0 * n * n * n * 4.9e-32
    if sxx <= tiny * mx * mx and _constant_nb(x, y):
        return np.nan
    if syy <= tiny * my * my and _constant_nb(y, x):
        return np.nan
    return corr_from_sums_nb(sxy, sxx, syy)


@njit(cache=True, parallel=True)
def pearson_rows_nb(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row Pearson correlation of two (T, N) arrays over the columns finite in both.

    A row with fewer than 2 valid pairs, or where either side is constant (exactly, not up to
    rounding), gives NaN. Two passes per row (means, then centred sums) over masked copies,
    summed in ``quantrl.kernels.lanes``' written-out order: vectorised, and the same bits freshly
    compiled and loaded from numba's cache; rows run on numba's threads.
    """
    t_len, n_cols = x.shape
    out = np.empty(t_len, dtype=np.float64)
    for t in prange(t_len):
        dx = np.empty(n_cols, dtype=np.float64)
        dy = np.empty(n_cols, dtype=np.float64)
        out[t] = _pearson_row_nb(x[t], y[t], dx, dy)
    return out


@njit(cache=True, parallel=True)
def spearman_rows_nb(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row Spearman correlation (Pearson of average ranks) over the columns finite in both.

    Ranks are computed among the valid pairs only; ties share their average rank. A row with
    fewer than 2 valid pairs, or where either side is constant, gives NaN.
    """
    t_len = x.shape[0]
    out = np.empty(t_len, dtype=np.float64)
    for t in prange(t_len):
        xs, ys = _valid_pairs_nb(x[t], y[t])
        if xs.shape[0] < 2:
            out[t] = np.nan
        else:
            out[t] = _pearson_1d_nb(average_rank_nb(xs), average_rank_nb(ys))
    return out


_OCTAVES = 20
"""Octaves below a row's largest magnitude that keep distinct codes; smaller magnitudes share
the codes next to zero (their order is then restored by comparing values)."""


@njit(cache=True, parallel=True)
def _pack_keys_nb(
    values: np.ndarray, keys: np.ndarray, value_bits: int, shift: int, n_blocks: int
) -> None:
    """Per row: a monotone code of each value in the high ``value_bits`` bits of ``keys``, above
    the column index in the low ``shift`` bits; equal values get equal codes.

    The code works on the float's bits, which order magnitudes: magnitudes are floored at
    ``_OCTAVES`` octaves below the row's largest (``floor``), the floor is subtracted and the sign
    applied (so the span is ~2 x 21 octaves whatever the exponents), then the row's span is
    shifted right just enough to fit. Non-finite values take the top code, so they sort last.
    """
    t_len, n_cols = values.shape
    bits = values.view(np.int64)
    mask = np.int64(0x7FFFFFFFFFFFFFFF)
    top = (np.int64(1) << value_bits) - 1
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        h = np.empty(n_cols, dtype=np.int64)
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            biggest = np.int64(0)
            for j in range(n_cols):
                if np.isfinite(values[t, j]):
                    biggest = max(biggest, bits[t, j] & mask)
            floor = max(np.int64(0), (biggest >> 52) - _OCTAVES) << 52
            lo = mask
            hi = -mask
            for j in range(n_cols):
                if np.isfinite(values[t, j]):
                    b = bits[t, j]
                    m = max(b & mask, floor) - floor
                    k = m if b >= 0 or m == 0 else -m  # -0.0 and small negatives: like 0.0
                    h[j] = k
                    lo = min(lo, k)
                    hi = max(hi, k)
            span = hi - lo if hi >= lo else np.int64(0)
            s = 0
            while (span >> s) >= top:
                s += 1
            for j in range(n_cols):
                q = (h[j] - lo) >> s if np.isfinite(values[t, j]) else top
                keys[t, j] = (q << shift) | j


_LONG_RUN = 32
"""Runs of shared codes longer than this are sorted by ``np.argsort`` instead of insertion."""


@njit(cache=True)
def _ranks_from_keys_nb(
    row: np.ndarray,
    key_row: np.ndarray,
    valid: np.ndarray,
    shift: int,
    top: int,
    ranks: np.ndarray,
    run: np.ndarray,
) -> None:
    """Average ranks 1..k of ``row`` over its ``valid`` entries, walking its sorted keys.

    Keys with different codes are already in value order; only a run of keys sharing a code is
    sorted by value (insertion) and searched for exact ties. ``top`` is the non-finite code.
    """
    n_cols = key_row.shape[0]
    low = (1 << shift) - 1
    pos = 0
    prev = -1
    shared = False
    for i in range(n_cols):  # first assume every code is unique: ranks are positions
        key = key_row[i]
        code = key >> shift
        shared |= code == prev and code != top
        prev = code
        j = key & low
        if valid[j]:
            pos += 1
            ranks[j] = pos
    if not shared:
        return
    pos = 0
    i = 0
    while i < n_cols:
        key = key_row[i]
        code = key >> shift
        end = i + 1
        while end < n_cols and (key_row[end] >> shift) == code:
            end += 1
        if end == i + 1:
            j = key & low
            if valid[j]:
                pos += 1
                ranks[j] = pos
            i = end
            continue
        m = 0
        if end - i <= _LONG_RUN:
            for r in range(i, end):  # insertion sort of the run by value
                j = key_row[r] & low
                if valid[j]:
                    v = row[j]
                    k = m - 1
                    while k >= 0 and row[run[k]] > v:
                        run[k + 1] = run[k]
                        k -= 1
                    run[k + 1] = j
                    m += 1
        else:
            for r in range(i, end):
                j = key_row[r] & low
                if valid[j]:
                    run[m] = j
                    m += 1
            members = run[:m].copy()
            by_value = np.argsort(row[members])
            for r in range(m):
                run[r] = members[by_value[r]]
        a = 0
        while a < m:
            v = row[run[a]]
            e = a + 1
            while e < m and row[run[e]] == v:
                e += 1
            avg = pos + 0.5 * (a + 1 + e)
            for r in range(a, e):
                ranks[run[r]] = avg
            a = e
        pos += m
        i = end


def _blocks(t_len: int) -> int:
    """Row blocks for the parallel kernels: one per thread, or one for small inputs."""

    return max(1, min(get_num_threads(), t_len // 64))


def key_shift(n_cols: int) -> int:
    """Bits of column index in the packed keys of rows of ``n_cols`` values."""
    return max(1, int(n_cols - 1).bit_length())


def sorted_keys(values: np.ndarray) -> np.ndarray:
    """Per-row sorted packed keys of a (T, N) array: a row-scaled order-preserving code of each
    value above its column index (``_pack_keys_nb``), 32-bit while >= 16 code bits remain.

    Keys with different codes are in value order; equal values share a code; non-finite last.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    shift = key_shift(values.shape[1])
    narrow = 31 - shift >= 16
    keys = np.empty(values.shape, dtype=np.int32 if narrow else np.int64)
    n_blocks = _blocks(values.shape[0])
    _pack_keys_nb(values, keys, (31 if narrow else 63) - shift, shift, n_blocks)
    keys.sort(axis=1)  # numpy's vectorised sort; threads gained nothing here (measured)
    return keys


@njit(cache=True, inline="always")
def _drop_top_nb(key_row: np.ndarray, shift: int, top: int, valid: np.ndarray) -> int:
    """Clear ``valid`` for the columns at the end of a sorted key row that carry the top code
    (non-finite values); returns how many were newly cleared."""
    low = (1 << shift) - 1
    dropped = 0
    for i in range(key_row.shape[0] - 1, -1, -1):
        key = key_row[i]
        if (key >> shift) != top:
            break
        j = key & low
        if valid[j]:
            valid[j] = False
            dropped += 1
    return dropped


@njit(cache=True)
def _masked_corr_nb(rx: np.ndarray, ry: np.ndarray, valid: np.ndarray, mean: float) -> float:
    """Correlation of two rank rows over the ``valid`` entries, both centred on ``mean``."""
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for j in range(rx.shape[0]):
        dx = rx[j] - mean if valid[j] else 0.0
        dy = ry[j] - mean if valid[j] else 0.0
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    return corr_from_sums_nb(sxy, sxx, syy)


@njit(cache=True, parallel=True)
def _spearman_keys_nb(
    x: np.ndarray,
    y: np.ndarray,
    x_keys: np.ndarray,
    y_keys: np.ndarray,
    shift: int,
    top: int,
    n_blocks: int,
) -> np.ndarray:
    """Per-row Spearman from each side's sorted packed keys (``sorted_keys``)."""
    t_len, n_cols = x.shape
    out = np.empty(t_len, dtype=np.float64)
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        valid = np.empty(n_cols, dtype=np.bool_)
        rx = np.empty(n_cols, dtype=np.float64)
        ry = np.empty(n_cols, dtype=np.float64)
        run = np.empty(n_cols, dtype=np.int64)
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            xr = x[t]
            yr = y[t]
            valid[:] = True
            # non-finite values carry the top code, so they end each sorted row
            n = n_cols - _drop_top_nb(x_keys[t], shift, top, valid)
            n -= _drop_top_nb(y_keys[t], shift, top, valid)
            if n < 2:
                out[t] = np.nan
                continue
            _ranks_from_keys_nb(xr, x_keys[t], valid, shift, top, rx, run)
            _ranks_from_keys_nb(yr, y_keys[t], valid, shift, top, ry, run)
            out[t] = _masked_corr_nb(rx, ry, valid, 0.5 * (n + 1))
    return out


def spearman_rows(x: np.ndarray, y: np.ndarray, *, y_keys: np.ndarray | None = None) -> np.ndarray:
    """Per-row Spearman correlation, exactly ``spearman_rows_nb``, on vectorised row sorts.

    Ranks are taken among the columns finite in both rows (walking sorted keys and skipping the
    others keeps them sorted); ties share their average rank. Pass ``y_keys=sorted_keys(y)`` to
    reuse the work of sorting ``y`` across calls.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"x {x.shape} and y {y.shape} must be (T, N) arrays of one shape")
    x_keys = sorted_keys(x)
    if y_keys is None:
        y_keys = sorted_keys(y)
    elif y_keys.shape != y.shape or y_keys.dtype != x_keys.dtype:
        raise ValueError(
            f"y_keys ({y_keys.dtype}, {y_keys.shape}) are not sorted_keys of a {y.shape} array"
        )
    shift = key_shift(x.shape[1])
    top = (1 << (8 * x_keys.itemsize - 1 - shift)) - 1
    return _spearman_keys_nb(x, y, x_keys, y_keys, shift, top, _blocks(x.shape[0]))


@njit(cache=True, parallel=True)
def rank_kl_stability_nb(x: np.ndarray) -> np.ndarray:
    """Per-date rank stability 1 / (1 + KL(p_t || p_{t-1})), KL in nats.

    For each t >= 1 the symbols finite at both t and t-1 are ranked separately at t and at t-1
    (average ranks 1..n, so every probability is positive); p = rank / sum(rank). Row 0 and rows
    with fewer than 2 common symbols are NaN.
    """
    t_len, n_cols = x.shape
    out = np.full(t_len, np.nan)
    for t in prange(1, t_len):
        cur, prev = _valid_pairs_nb(x[t], x[t - 1])
        n = cur.shape[0]
        if n < 2:
            continue
        rc = average_rank_nb(cur)
        rp = average_rank_nb(prev)
        total = 0.5 * n * (n + 1)  # sum of ranks 1..n, ties included
        kl = 0.0
        for k in range(n):
            pc = rc[k] / total
            pp = rp[k] / total
            kl += pc * np.log(pc / pp)
        out[t] = 1.0 / (1.0 + max(kl, 0.0))
    return out


@njit(cache=True)
def _buckets_nb(values: np.ndarray, n_quantiles: int) -> np.ndarray:
    """Quantile bucket 0..Q-1 of each finite value: floor(Q * (avg_rank - 0.5) / n)."""
    n = values.shape[0]
    ranks = average_rank_nb(values)
    out = np.empty(n, dtype=np.int64)
    for k in range(n):
        b = int(np.floor(n_quantiles * (ranks[k] - 0.5) / n))
        out[k] = min(max(b, 0), n_quantiles - 1)
    return out


@njit(cache=True, parallel=True)
def quantile_means_nb(x: np.ndarray, y: np.ndarray, n_quantiles: int) -> np.ndarray:
    """Per-date mean of ``y`` within each quantile bucket of ``x`` -> (T, Q).

    Only symbols with both ``x`` and ``y`` finite take part; a date with fewer than
    ``n_quantiles`` of them is all NaN. Buckets come from ``_buckets_nb`` (ties share a bucket).
    """
    t_len = x.shape[0]
    out = np.full((t_len, n_quantiles), np.nan)
    for t in prange(t_len):
        xs, ys = _valid_pairs_nb(x[t], y[t])
        n = xs.shape[0]
        if n < n_quantiles:
            continue
        buckets = _buckets_nb(xs, n_quantiles)
        sums = np.zeros(n_quantiles)
        counts = np.zeros(n_quantiles)
        for k in range(n):
            sums[buckets[k]] += ys[k]
            counts[buckets[k]] += 1.0
        for q in range(n_quantiles):
            if counts[q] > 0:
                out[t, q] = sums[q] / counts[q]
    return out


@njit(cache=True, parallel=True)
def top_quantile_mask_nb(x: np.ndarray, n_quantiles: int) -> np.ndarray:
    """(T, N) boolean mask of the symbols in the top quantile bucket of ``x`` on each date."""
    t_len, n_cols = x.shape
    out = np.zeros((t_len, n_cols), dtype=np.bool_)
    for t in prange(t_len):
        row = x[t]
        count = 0
        for j in range(n_cols):
            if np.isfinite(row[j]):
                count += 1
        if count < n_quantiles:
            continue
        idx = np.empty(count, dtype=np.int64)
        vals = np.empty(count, dtype=np.float64)
        k = 0
        for j in range(n_cols):
            if np.isfinite(row[j]):
                idx[k] = j
                vals[k] = row[j]
                k += 1
        buckets = _buckets_nb(vals, n_quantiles)
        for k in range(count):
            if buckets[k] == n_quantiles - 1:
                out[t, idx[k]] = True
    return out


@njit(cache=True)
def top_quantile_turnover_nb(x: np.ndarray, n_quantiles: int) -> np.ndarray:
    """Share of the top-quantile members at t that were not top-quantile members at t-1.

    Row 0, and rows where either top set is empty, are NaN.
    """
    mask = top_quantile_mask_nb(x, n_quantiles)
    t_len, n_cols = x.shape
    out = np.full(t_len, np.nan)
    for t in range(1, t_len):
        size = 0
        size_prev = 0
        new = 0
        for j in range(n_cols):
            if mask[t - 1, j]:
                size_prev += 1
            if mask[t, j]:
                size += 1
                if not mask[t - 1, j]:
                    new += 1
        if size > 0 and size_prev > 0:
            out[t] = new / size
    return out
