"""Fixed-order sums: the fused four-way dot equals four separate dots bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from quantrl.kernels.lanes import dot4_nb, dot_nb, sum_nb


@njit(cache=False)
def _dot4(x, a, b, c, d):
    return dot4_nb(x, a, b, c, d)


@njit(cache=False)
def _dot(x, y):
    return dot_nb(x, y)


@njit(cache=False)
def _sum(x):
    return sum_nb(x)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 505, 1001])
def test_dot4_equals_four_dots_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    x, a, b, c, d = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n) for _ in range(5))
    fused = _dot4(x, a, b, c, d)
    assert fused == tuple(_dot(x, y) for y in (a, b, c, d))
    # and each is the documented lane order, not just some order
    if n:
        lanes = [0.0] * 8
        for q in range(8):
            acc = 0.0
            for j in range(q, n - n % 8, 8):
                acc += x[j] * a[j]
            lanes[q] = acc
        for j in range(n - n % 8, n):
            lanes[0] += x[j] * a[j]
        l0, l1, l2, l3, l4, l5, l6, l7 = lanes
        assert fused[0] == ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))


def test_sum_is_a_dot_with_ones() -> None:
    x = np.random.default_rng(3).standard_normal(333) * 1e6
    assert _sum(x) == _dot4(x, np.ones(333), x, x, x)[0]
    assert _sum(x) == pytest.approx(float(np.sum(x)), rel=1e-12)
