"""Per-date cross-sectional statistics on (T, N) arrays: Pearson, Spearman, ranks, quantiles.

Every kernel treats a cell as missing when it is not finite (NaN or +-inf). Rows are dates and
are processed independently (``prange`` over dates); nothing ever mixes two dates except the
explicitly lagged kernels (``rank_kl_stability_nb``, ``top_quantile_turnover_nb``), which read
rows t and t-1 only.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


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


_REDUCE = {"reassoc", "nsz"}
"""Fast-math flags for the row reductions: re-associating the sums lets LLVM vectorise them; no
flag that assumes finite values is set, so the NaN / inf masks stay exact."""


@njit(cache=True, fastmath=_REDUCE)
def pearson_rows_nb(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row Pearson correlation of two (T, N) arrays over the columns finite in both.

    A row with fewer than 2 valid pairs, or where either side is constant, gives NaN. Two passes
    per row (means, then centred sums), branch-free masks so the sums vectorise, no allocation.
    """
    t_len, n_cols = x.shape
    out = np.empty(t_len, dtype=np.float64)
    for t in range(t_len):
        n = 0.0
        sx = 0.0
        sy = 0.0
        xmin = np.inf
        xmax = -np.inf
        ymin = np.inf
        ymax = -np.inf
        for j in range(n_cols):
            a = x[t, j]
            b = y[t, j]
            ok = np.isfinite(a) and np.isfinite(b)
            n += 1.0 if ok else 0.0
            sx += a if ok else 0.0
            sy += b if ok else 0.0
            xmin = min(xmin, a if ok else np.inf)
            xmax = max(xmax, a if ok else -np.inf)
            ymin = min(ymin, b if ok else np.inf)
            ymax = max(ymax, b if ok else -np.inf)
        if n < 2 or xmin == xmax or ymin == ymax:
            out[t] = np.nan  # too few pairs, or a constant side (exactly, not up to rounding)
            continue
        mx = sx / n
        my = sy / n
        sxy = 0.0
        sxx = 0.0
        syy = 0.0
        for j in range(n_cols):
            a = x[t, j]
            b = y[t, j]
            ok = np.isfinite(a) and np.isfinite(b)
            dx = a - mx if ok else 0.0
            dy = b - my if ok else 0.0
            sxy += dx * dy
            sxx += dx * dx
            syy += dy * dy
        out[t] = corr_from_sums_nb(sxy, sxx, syy)
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


@njit(cache=True, parallel=True)
def _packed_keys_nb(values: np.ndarray, shift: int, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Order-preserving int64 keys with the column index in the low ``shift`` bits; counts finite."""
    t_len, n_cols = values.shape
    bits = values.view(np.int64)
    keys = np.empty((t_len, n_cols), dtype=np.int64)
    n_finite = np.zeros(t_len, dtype=np.int64)
    top = (np.int64(0x7FFFFFFFFFFFFFFF) >> shift) << shift
    mask = np.int64(0x7FFFFFFFFFFFFFFF)
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            for j in range(n_cols):
                if np.isfinite(values[t, j]):
                    b = bits[t, j]
                    k = b ^ ((b >> 63) & mask)
                    keys[t, j] = ((k >> shift) << shift) | j
                    n_finite[t] += 1
                else:
                    keys[t, j] = top | j
    return keys, n_finite


@njit(cache=True, parallel=True)
def _unpack_and_fix_nb(
    values: np.ndarray, keys: np.ndarray, n_finite: np.ndarray, shift: int, n_blocks: int
) -> np.ndarray:
    """Column indices from sorted keys, then an insertion pass for exact order among near-ties."""
    t_len, n_cols = keys.shape
    low = (np.int64(1) << shift) - 1
    order = np.empty((t_len, n_cols), dtype=np.int64)
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            row = values[t]
            idx = order[t]
            for i in range(n_cols):
                idx[i] = keys[t, i] & low
            for i in range(1, n_finite[t]):
                cur = idx[i]
                v = row[cur]
                k = i - 1
                while k >= 0 and row[idx[k]] > v:
                    idx[k + 1] = idx[k]
                    k -= 1
                idx[k + 1] = cur
    return order


def _blocks(t_len: int) -> int:
    """Row blocks for the parallel kernels: one per thread, or one for small inputs."""
    from numba import get_num_threads

    return max(1, min(get_num_threads(), t_len // 64))


def _sort_rows(keys: np.ndarray, n_blocks: int) -> None:
    """Sort each row in place; numpy releases the GIL, so row blocks sort on threads at once."""
    if n_blocks == 1:
        keys.sort(axis=1)
        return
    from concurrent.futures import ThreadPoolExecutor

    step = (keys.shape[0] + n_blocks - 1) // n_blocks
    parts = [keys[i : i + step] for i in range(0, keys.shape[0], step)]
    with ThreadPoolExecutor(len(parts)) as pool:
        list(pool.map(lambda part: part.sort(axis=1), parts))


def sorted_order(values: np.ndarray) -> np.ndarray:
    """Per-row ascending argsort of the finite values, non-finite entries last: (T, N) int64.

    Sorts packed int64 keys (an order-preserving image of the float with the column index in its
    low bits) with numpy's vectorised sort, then an insertion pass restores the exact order of
    values that differ only in those low bits. Ties keep no particular order. Blocks of rows run
    on numba's threads.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    shift = max(1, int(values.shape[1] - 1).bit_length())
    n_blocks = _blocks(values.shape[0])
    keys, n_finite = _packed_keys_nb(values, shift, n_blocks)
    _sort_rows(keys, n_blocks)
    return _unpack_and_fix_nb(values, keys, n_finite, shift, n_blocks)


@njit(cache=True)
def _ranks_from_order_nb(
    row: np.ndarray, idx: np.ndarray, valid: np.ndarray, ranks: np.ndarray
) -> None:
    """Average ranks 1..k of ``row`` over the ``valid`` entries, walking its sorted order."""
    n_cols = idx.shape[0]
    pos = 0
    i = 0
    while i < n_cols:
        j0 = idx[i]
        if not valid[j0]:
            i += 1
            continue
        v = row[j0]
        # the run of equal valid values starting at i
        end = i
        count = 1
        k = i + 1
        while k < n_cols and row[idx[k]] == v:
            if valid[idx[k]]:
                count += 1
            end = k
            k += 1
        avg = pos + 0.5 * (count + 1)
        for m in range(i, end + 1):
            if valid[idx[m]]:
                ranks[idx[m]] = avg
        pos += count
        i = end + 1


@njit(cache=True)
def _ranks_all_valid_nb(
    row: np.ndarray, idx: np.ndarray, n: int, ranks: np.ndarray, sorted_values: np.ndarray
) -> None:
    """Average ranks when the first ``n`` entries of the order are exactly the valid ones."""
    for i in range(n):
        sorted_values[i] = row[idx[i]]
    ties = False
    for i in range(n - 1):
        ties |= sorted_values[i] == sorted_values[i + 1]
    if not ties:
        for i in range(n):
            ranks[idx[i]] = i + 1.0
        return
    i = 0
    while i < n:
        v = sorted_values[i]
        k = i + 1
        while k < n and sorted_values[k] == v:
            k += 1
        avg = 0.5 * (i + 1 + k)
        for m in range(i, k):
            ranks[idx[m]] = avg
        i = k


@njit(cache=True, parallel=True)
def _spearman_from_orders_nb(
    x: np.ndarray, y: np.ndarray, x_order: np.ndarray, y_order: np.ndarray, n_blocks: int
) -> np.ndarray:
    t_len, n_cols = x.shape
    out = np.empty(t_len, dtype=np.float64)
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        valid = np.empty(n_cols, dtype=np.bool_)
        rx = np.empty(n_cols, dtype=np.float64)
        ry = np.empty(n_cols, dtype=np.float64)
        scratch = np.empty(n_cols, dtype=np.float64)
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            xr = x[t]
            yr = y[t]
            n = 0
            nx = 0
            ny = 0
            for j in range(n_cols):
                fx = np.isfinite(xr[j])
                fy = np.isfinite(yr[j])
                ok = fx and fy
                valid[j] = ok
                n += 1 if ok else 0
                nx += 1 if fx else 0
                ny += 1 if fy else 0
            if n < 2:
                out[t] = np.nan
                continue
            if n == nx and n == ny:  # the valid pairs are each side's finite values
                _ranks_all_valid_nb(xr, x_order[t], n, rx, scratch)
                _ranks_all_valid_nb(yr, y_order[t], n, ry, scratch)
            else:
                _ranks_from_order_nb(xr, x_order[t], valid, rx)
                _ranks_from_order_nb(yr, y_order[t], valid, ry)
            mean = 0.5 * (n + 1)
            sxy = 0.0
            sxx = 0.0
            syy = 0.0
            for j in range(n_cols):
                if valid[j]:
                    dx = rx[j] - mean
                    dy = ry[j] - mean
                    sxy += dx * dy
                    sxx += dx * dx
                    syy += dy * dy
            out[t] = corr_from_sums_nb(sxy, sxx, syy)
    return out


def spearman_from_orders(
    x: np.ndarray, y: np.ndarray, x_order: np.ndarray, y_order: np.ndarray
) -> np.ndarray:
    """Per-row Spearman correlation from each side's sorted order (see ``sorted_order``).

    Exactly ``spearman_rows_nb``: ranks are taken among the columns finite in both rows (walking
    a sorted order and skipping the others keeps it sorted), ties share their average rank.
    """
    return _spearman_from_orders_nb(x, y, x_order, y_order, _blocks(x.shape[0]))


def spearman_rows(x: np.ndarray, y: np.ndarray, *, y_order: np.ndarray | None = None) -> np.ndarray:
    """Per-row Spearman correlation, fast path; pass ``y_order=sorted_order(y)`` to reuse it."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if y_order is None:
        y_order = sorted_order(y)
    return spearman_from_orders(x, y, sorted_order(x), y_order)


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
