"""The vectorised log kernel against numpy.log: special values exactly, the rest within 1 ulp."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.alpha import evaluate
from quantrl.data.panel import Panel
from quantrl.kernels.elementwise import log_flat_nb


def _log(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    log_flat_nb(x, out)
    return out


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got - want) / np.spacing(np.abs(want))


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(0).lognormal(13, 0.6, 20_000),
        np.random.default_rng(1).uniform(0.0, 10.0, 20_000),
        np.exp(np.random.default_rng(2).uniform(-700.0, 700.0, 20_000)),
        np.random.default_rng(3).uniform(0.5, 2.0, 20_000),  # around the reduction boundaries
        np.array([5e-324, 1e-310, 2.2250738585072014e-308, 1e308, np.finfo(float).max]),
    ],
)
def test_log_within_one_ulp_of_numpy(values: np.ndarray) -> None:
    want = np.log(values)
    got = _log(values)
    assert np.all(np.isfinite(got))
    assert _ulps(got, want).max() <= 1.0
    assert np.mean(got == want) > 0.9  # mostly bit-identical, not merely close


def test_log_special_values_match_numpy() -> None:
    values = np.array([0.0, -0.0, -1.0, -np.inf, np.nan, np.inf, 1.0, 2.0, 0.5, np.e])
    with np.errstate(all="ignore"):
        want = np.log(values)
    got = _log(values)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite_or_inf = ~np.isnan(want)
    np.testing.assert_array_equal(got[finite_or_inf][:3], want[finite_or_inf][:3])
    assert got[0] == -np.inf and got[1] == -np.inf and got[5] == np.inf
    assert got[6] == 0.0 and got[7] == np.log(2.0) and got[8] == np.log(0.5)
    assert abs(got[9] - 1.0) <= np.spacing(1.0)


def test_log_operator_uses_the_kernel_on_panels_with_nan() -> None:
    rng = np.random.default_rng(4)
    vol = rng.lognormal(10, 1.0, (200, 30))
    vol[rng.random(vol.shape) < 0.1] = np.nan
    vol[0, 0] = 0.0
    vol[1, 1] = -5.0
    dates = np.datetime64("2020-01-01") + np.arange(200)
    panel = Panel(dates, tuple(f"S{i}" for i in range(30)), {"close": vol + 1, "volume": vol})
    got = evaluate("Log($volume)", panel)
    with np.errstate(all="ignore"):
        want = np.log(vol)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert got[0, 0] == -np.inf
    ok = np.isfinite(want)
    assert _ulps(got[ok], want[ok]).max() <= 1.0


def test_threaded_log_matches_serial() -> None:
    from quantrl.kernels.elementwise import log_nb

    x = np.abs(np.random.default_rng(5).normal(size=10_007))
    x[:4] = [np.nan, np.inf, 0.0, -1.0]
    out = np.empty_like(x)
    log_nb(x, out)
    np.testing.assert_array_equal(out, _log(x))


def test_threaded_arithmetic_matches_numpy() -> None:
    from quantrl.kernels.elementwise import ADD, DIV, MUL, SUB, arithmetic_nb

    rng = np.random.default_rng(6)
    a = rng.normal(size=10_007)
    b = rng.normal(size=10_007)
    a[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0]
    b[:6] = [1.0, 2.0, np.inf, 0.0, 0.0, -0.0]
    for op, fn in ((ADD, np.add), (SUB, np.subtract), (MUL, np.multiply), (DIV, np.divide)):
        out = np.empty_like(a)
        arithmetic_nb(a, b, op, out)
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(out, fn(a, b))
