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

__all__ = ["dot3_nb", "dot_nb", "sum_nb"]


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
def dot3_nb(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Sum of ``x * y * w`` (1-D, same length) over eight interleaved lanes."""
    n = x.shape[0]
    m = n - n % 8
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = 0.0
    for j in range(0, m, 8):
        l0 += x[j] * y[j] * w[j]
        l1 += x[j + 1] * y[j + 1] * w[j + 1]
        l2 += x[j + 2] * y[j + 2] * w[j + 2]
        l3 += x[j + 3] * y[j + 3] * w[j + 3]
        l4 += x[j + 4] * y[j + 4] * w[j + 4]
        l5 += x[j + 5] * y[j + 5] * w[j + 5]
        l6 += x[j + 6] * y[j + 6] * w[j + 6]
        l7 += x[j + 7] * y[j + 7] * w[j + 7]
    for j in range(m, n):
        l0 += x[j] * y[j] * w[j]
    return ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))
