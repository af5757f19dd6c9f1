"""Row sums in a fixed order over eight interleaved lanes, for reproducible fast reductions.

A plain ``acc += x[j]`` loop is one chain of dependent additions that runs at the adder's
latency. Letting the compiler re-associate the sum (fast-math ``reassoc``) vectorises it, but
the order of the additions is then whatever the optimiser picked, and numba optimises a freshly
compiled function differently from the same function loaded from its on-disk cache: the two give
sums that differ in the last bits, so one seed would not give the same numbers in every process.
These kernels keep eight partial sums, lane ``j % 8`` taking element ``j``, and add them
pairwise (``((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))``): the order is written out, so
every build gives the same bits, and the eight independent chains keep the adders busy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["dot4_nb", "dot_nb", "sum_nb"]


@njit(cache=True, inline="always")
def sum_nb(x: np.ndarray) -> float:
    """Sum of a 1-D array over eight interleaved lanes."""
    n = x.shape[0]
    m = n - n % 8
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = 0.0
    for j in range(0, m, 8):
        l0 += x[j]
        l1 += x[j + 1]
        l2 += x[j + 2]
        l3 += x[j + 3]
        l4 += x[j + 4]
        l5 += x[j + 5]
        l6 += x[j + 6]
        l7 += x[j + 7]
    for j in range(m, n):
        l0 += x[j]
    return ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))


@njit(cache=True, inline="always")
def dot_nb(x: np.ndarray, y: np.ndarray) -> float:
    """Sum of ``x * y`` (1-D, same length) over eight interleaved lanes."""
    n = x.shape[0]
    m = n - n % 8
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = 0.0
    for j in range(0, m, 8):
        l0 += x[j] * y[j]
        l1 += x[j + 1] * y[j + 1]
        l2 += x[j + 2] * y[j + 2]
        l3 += x[j + 3] * y[j + 3]
        l4 += x[j + 4] * y[j + 4]
        l5 += x[j + 5] * y[j + 5]
        l6 += x[j + 6] * y[j + 6]
        l7 += x[j + 7] * y[j + 7]
    for j in range(m, n):
        l0 += x[j] * y[j]
    return ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))


@njit(cache=True, inline="always")
def dot4_nb(x, a, b, c, d):
    """Sums of ``x * a``, ``x * b``, ``x * c`` and ``x * d`` in one pass, each in ``dot_nb``'s order."""
    n = x.shape[0]
    m = n - n % 8
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = 0.0
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = 0.0
    d0 = d1 = d2 = d3 = d4 = d5 = d6 = d7 = 0.0
    for j in range(0, m, 8):
        x0 = x[j]
        a0 += x0 * a[j]
        b0 += x0 * b[j]
        c0 += x0 * c[j]
        d0 += x0 * d[j]
        x1 = x[j + 1]
        a1 += x1 * a[j + 1]
        b1 += x1 * b[j + 1]
        c1 += x1 * c[j + 1]
        d1 += x1 * d[j + 1]
        x2 = x[j + 2]
        a2 += x2 * a[j + 2]
        b2 += x2 * b[j + 2]
        c2 += x2 * c[j + 2]
        d2 += x2 * d[j + 2]
        x3 = x[j + 3]
        a3 += x3 * a[j + 3]
        b3 += x3 * b[j + 3]
        c3 += x3 * c[j + 3]
        d3 += x3 * d[j + 3]
        x4 = x[j + 4]
        a4 += x4 * a[j + 4]
        b4 += x4 * b[j + 4]
        c4 += x4 * c[j + 4]
        d4 += x4 * d[j + 4]
        x5 = x[j + 5]
        a5 += x5 * a[j + 5]
        b5 += x5 * b[j + 5]
        c5 += x5 * c[j + 5]
        d5 += x5 * d[j + 5]
        x6 = x[j + 6]
        a6 += x6 * a[j + 6]
        b6 += x6 * b[j + 6]
        c6 += x6 * c[j + 6]
        d6 += x6 * d[j + 6]
        x7 = x[j + 7]
        a7 += x7 * a[j + 7]
        b7 += x7 * b[j + 7]
        c7 += x7 * c[j + 7]
        d7 += x7 * d[j + 7]
    for j in range(m, n):
        a0 += x[j] * a[j]
        b0 += x[j] * b[j]
        c0 += x[j] * c[j]
        d0 += x[j] * d[j]
    return (
        ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)),
        ((b0 + b4) + (b1 + b5)) + ((b2 + b6) + (b3 + b7)),
        ((c0 + c4) + (c1 + c5)) + ((c2 + c6) + (c3 + c7)),
        ((d0 + d4) + (d1 + d5)) + ((d2 + d6) + (d3 + d7)),
    )
