"""Operator registry: name -> arity, parameter kinds, lookback rule, unit rule and kernel.

Semantics follow Qlib's expression operators (``qlib/data/ops.py``) once a window is full:

* rolling operators need a full window of finite values (NaN otherwise, first ``w - 1`` rows NaN);
* Std/Var/Cov use ddof=1; Skew/Kurt are pandas' bias-corrected estimators; Mad is the mean
  absolute deviation around the window mean; Med/Quantile interpolate linearly (pandas);
* Rank is the percentile rank (average ties) of the last value within its window;
* IdxMax/IdxMin give the 1-based position of the first extreme, the oldest row being 1;
* Slope/Rsquare/Resi regress the window on 1..w; Rsquare and Corr are NaN where a window's std
  is <= 2e-5 (as Qlib);
* WMA reproduces Qlib exactly: weights 1..w normalised to sum 1, then ``nanmean`` of the
  weighted values, i.e. the weighted mean divided by w;
* EMA is pandas ``ewm(span=N)`` (alpha = 2/(N+1)) or ``ewm(alpha=N)`` for 0 < N < 1, over the
  whole history, reported once the last window (N rows, or the span equivalent) is finite;
* comparisons, And/Or/Not and If propagate NaN (Qlib turns a NaN comparison into False);
* Ref with a negative offset reads the future and is accepted only for labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numba
import numpy as np

from quantrl.alpha.dimensions import (
    BOOL,
    COUNT,
    RATIO,
    UNKNOWN,
    Unit,
    level_unit,
    log_unit,
    mul_units,
    pow_unit,
    same_unit,
    spread_unit,
    sum_unit,
)
from quantrl.kernels import cross_section as cs
from quantrl.kernels import elementwise as ew
from quantrl.kernels import flat_windows as fw
from quantrl.kernels import rolling as rk
from quantrl.kernels import rolling_extremes as rx
from quantrl.kernels import rolling_order as ro

# --------------------------------------------------------------------------- spec


Array = np.ndarray
Value = Any  # np.ndarray or float (a constant operand)


@dataclass(frozen=True)
class OpSpec:
    """One operator: its inputs, parameters and how to compute it.

    ``params`` lists the kinds of the trailing numeric arguments: ``"window"`` (integer >=
    ``min_window``), ``"lag"`` (integer >= 1), ``"offset"`` (non-zero integer; negative reads
    the future), ``"span"``
    (integer >= 1 or a float in (0, 1)), ``"prob"`` (float in [0, 1]).
    """

    name: str
    category: str  # unary, binary, ternary, rolling, pair_rolling, cross_section
    n_inputs: int
    params: tuple[str, ...]
    compute: Callable[[list[Value], tuple], Array]
    unit_rule: Callable[[list[Unit], tuple], Unit]
    same_unit: tuple[int, ...] = ()  # indices of inputs that must share a unit
    min_window: int = 1
    description: str = ""

    @property
    def arity(self) -> int:
        """Total number of arguments (expression inputs + numeric parameters)."""
        return self.n_inputs + len(self.params)

    def signature(self) -> str:
        """Human-readable argument list, e.g. ``Mean(x, window)``."""
        names = ["x", "y", "z"][: self.n_inputs] if self.n_inputs <= 3 else []
        return f"{self.name}({', '.join(names + list(self.params))})"

    def window_rows(self, params: tuple) -> int:
        """Extra history rows the operator adds to its inputs' lookback."""
        if not self.params:
            return 0
        kind = self.params[0]
        p = params[0]
        if kind == "window":
            return int(p) - 1
        if kind in ("offset", "lag"):
            return max(int(p), 0)
        if kind == "span":
            return ema_window(p) - 1
        return 0

    def future_rows(self, params: tuple) -> int:
        """Future rows the operator reads (only Ref with a negative offset)."""
        if self.params and self.params[0] == "offset":
            return max(-int(params[0]), 0)
        return 0


def ema_window(n: float) -> int:
    """Window of rows that must be finite before EMA reports (N, or span-equivalent of alpha)."""
    if isinstance(n, float) and 0.0 < n < 1.0:
        return max(1, int(round(2.0 / n - 1.0)))
    return int(n)


def ema_alpha(n: float) -> float:
    """Smoothing factor: 2 / (N + 1) for a span N >= 1, N itself for 0 < N < 1 (Qlib)."""
    if isinstance(n, float) and 0.0 < n < 1.0:
        return float(n)
    return 2.0 / (float(n) + 1.0)


# --------------------------------------------------------------------------- computations


def _arr(x: Value) -> Array:
    return x if isinstance(x, np.ndarray) else np.asarray(x, dtype=np.float64)


#: Arrays smaller than this run numba kernels on one thread: starting a parallel region costs
#: more than the work, and far more when the cores are busy with other processes.
PARALLEL_MIN_SIZE = 100_000


@contextmanager
def _threads_for(size: int) -> Iterator[None]:
    """Run small inputs single-threaded (restores the caller's thread count afterwards)."""
    if size >= PARALLEL_MIN_SIZE:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _np1(fn: Callable[[Any], Any]) -> Callable[[list[Value], tuple], Array]:
    def compute(args: list[Value], params: tuple) -> Array:
        with np.errstate(all="ignore"):
            return np.asarray(fn(args[0]), dtype=np.float64)

    return compute


def _np2(fn: Callable[[Any, Any], Any]) -> Callable[[list[Value], tuple], Array]:
    def compute(args: list[Value], params: tuple) -> Array:
        with np.errstate(all="ignore"):
            return np.asarray(fn(args[0], args[1]), dtype=np.float64)

    return compute


def _arithmetic(op: int, fn: Callable[[Any, Any], Any]) -> Callable[[list[Value], tuple], Array]:
    """x (+ - * /) y: numba's threads for two same-shape arrays, numpy otherwise (broadcasting)."""
    numpy_compute = _np2(fn)

    def compute(args: list[Value], params: tuple) -> Array:
        a, b = args
        same_shape = isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
        if not same_shape or a.size < PARALLEL_MIN_SIZE:  # numpy: broadcasting, small inputs
            return numpy_compute(args, params)
        a = np.ascontiguousarray(a, dtype=np.float64)
        b = np.ascontiguousarray(b, dtype=np.float64)
        out = np.empty(a.shape, dtype=np.float64)
        ew.arithmetic_nb(a.reshape(-1), b.reshape(-1), op, out.reshape(-1))
        return out

    return compute


def _isnan(x: Value) -> Any:
    return np.isnan(x)


def _flag(result: Any, *inputs: Value) -> Array:
    bad = np.zeros(np.shape(result), dtype=bool)
    for x in inputs:
        bad = bad | _isnan(x)
    return np.where(bad, np.nan, np.asarray(result, dtype=np.float64))


def _cmp(fn: Callable[[Any, Any], Any]) -> Callable[[list[Value], tuple], Array]:
    def compute(args: list[Value], params: tuple) -> Array:
        a, b = args
        with np.errstate(all="ignore"):
            return _flag(fn(a, b), a, b)

    return compute


def _logic(fn: Callable[[Any, Any], Any]) -> Callable[[list[Value], tuple], Array]:
    def compute(args: list[Value], params: tuple) -> Array:
        a, b = args
        return _flag(fn(np.asarray(a) != 0, np.asarray(b) != 0), a, b)

    return compute


def _not(args: list[Value], params: tuple) -> Array:
    a = args[0]
    return _flag(np.asarray(a) == 0, a)


def _if(args: list[Value], params: tuple) -> Array:
    c, a, b = args
    shape = np.broadcast_shapes(np.shape(c), np.shape(a), np.shape(b))
    out = np.where(np.asarray(c) != 0, a, b).astype(np.float64)
    out = np.broadcast_to(out, shape).copy()
    out[np.broadcast_to(_isnan(c), shape)] = np.nan
    return out


def _greater(args: list[Value], params: tuple) -> Array:
    return np.asarray(np.maximum(args[0], args[1]), dtype=np.float64)


def _less(args: list[Value], params: tuple) -> Array:
    return np.asarray(np.minimum(args[0], args[1]), dtype=np.float64)


def _log(args: list[Value], params: tuple) -> Array:
    x = args[0]
    if isinstance(x, np.ndarray) and x.size >= 1024:
        a = np.ascontiguousarray(x, dtype=np.float64)
        out = np.empty(a.shape, dtype=np.float64)
        with _threads_for(a.size):
            ew.log_nb(a.reshape(-1), out.reshape(-1))
        return out
    with np.errstate(all="ignore"):
        return np.asarray(np.log(x), dtype=np.float64)


def _sign(args: list[Value], params: tuple) -> Array:
    return np.asarray(np.sign(args[0]), dtype=np.float64)


def _rolling(kernel: Callable[..., Array]) -> Callable[[list[Value], tuple], Array]:
    def compute(args: list[Value], params: tuple) -> Array:
        x = _arr(args[0])
        with _threads_for(x.size):
            return kernel(x, int(params[0]))

    return compute


def _pair(kernel: Callable[..., Array]) -> Callable[[list[Value], tuple], Array]:
    def compute(args: list[Value], params: tuple) -> Array:
        x, y = _arr(args[0]), _arr(args[1])
        with _threads_for(x.size):
            return kernel(x, y, int(params[0]))

    return compute


def _flat(
    compute: Callable[[list[Value], tuple], Array], value: float
) -> Callable[[list[Value], tuple], Array]:
    """``compute`` with ``value`` written where an operand's window repeats one value (a spread
    there is exactly 0, not the running sums' rounding noise; see ``kernels.flat_windows``)."""

    def flat(args: list[Value], params: tuple) -> Array:
        out = compute(args, params)
        w = int(params[0])
        if len(args) == 1:
            fw.set_flat_nb(out, _arr(args[0]), w, value)
        else:
            fw.set_flat_pair_nb(out, _arr(args[0]), _arr(args[1]), w, value)
        return out

    return flat


def _shift(x: Array, d: int) -> Array:
    out = np.full(x.shape, np.nan)
    if d > 0:
        out[d:] = x[:-d]
    elif d < 0:
        out[:d] = x[-d:]
    else:
        out[:] = x
    return out


def _ref(args: list[Value], params: tuple) -> Array:
    return _shift(_arr(args[0]), int(params[0]))


def _delta(args: list[Value], params: tuple) -> Array:
    x = _arr(args[0])
    d = int(params[0])
    out = np.full(x.shape, np.nan)
    with np.errstate(all="ignore"):
        np.subtract(x[d:], x[:-d], out=out[d:])
    return out


def _quantile(args: list[Value], params: tuple) -> Array:
    x = _arr(args[0])
    with _threads_for(x.size):
        return ro.rolling_quantile_nb(x, int(params[0]), float(params[1]))


def _ema(args: list[Value], params: tuple) -> Array:
    n = params[0]
    x = _arr(args[0])
    with _threads_for(x.size):
        return rk.ewm_mean_nb(x, ema_alpha(n), ema_window(n))


def _cs(kernel: Callable[[Array], Array]) -> Callable[[list[Value], tuple], Array]:
    def compute(args: list[Value], params: tuple) -> Array:
        x = _arr(args[0])
        with _threads_for(x.size):
            return kernel(x)

    return compute


# --------------------------------------------------------------------------- unit rules


def _u_same(units: list[Unit], params: tuple) -> Unit:
    return same_unit(units)


def _u_first(units: list[Unit], params: tuple) -> Unit:
    return units[0]


def _u_ratio(units: list[Unit], params: tuple) -> Unit:
    return RATIO


def _u_count(units: list[Unit], params: tuple) -> Unit:
    return COUNT


def _u_bool(units: list[Unit], params: tuple) -> Unit:
    return BOOL


def _u_log(units: list[Unit], params: tuple) -> Unit:
    return log_unit(units[0])


def _u_add(units: list[Unit], params: tuple) -> Unit:
    return sum_unit(units[0], units[1])


def _u_sub(units: list[Unit], params: tuple) -> Unit:
    return sum_unit(units[0], units[1], -1)


def _u_spread(units: list[Unit], params: tuple) -> Unit:
    return spread_unit(units[0])


def _u_cov(units: list[Unit], params: tuple) -> Unit:
    return mul_units(spread_unit(units[0]), spread_unit(units[1]))


def _u_mul(units: list[Unit], params: tuple) -> Unit:
    return mul_units(units[0], units[1])


def _u_div(units: list[Unit], params: tuple) -> Unit:
    return mul_units(units[0], units[1], -1)


def _u_square(units: list[Unit], params: tuple) -> Unit:
    return pow_unit(spread_unit(units[0]), 2)


def _u_sum(units: list[Unit], params: tuple) -> Unit:
    if units[0].kind == "log":  # a sum of w logs is the log of a w-fold product
        return level_unit(units[0], params[0] if params else 1)
    return COUNT if units[0].kind == "bool" else units[0]


def _u_wma(units: list[Unit], params: tuple) -> Unit:
    if units[0].kind == "log":  # Qlib's WMA divides its weighted sum by w: a shift k -> k / w
        return level_unit(units[0], Fraction(1, params[0]) if params else 1)
    return units[0]


def _u_mean(units: list[Unit], params: tuple) -> Unit:
    return RATIO if units[0].kind == "bool" else units[0]


def _u_if(units: list[Unit], params: tuple) -> Unit:
    return same_unit(units[1:])


def _u_power(units: list[Unit], params: tuple) -> Unit:
    return UNKNOWN  # replaced by expr.py when the exponent is a constant


# --------------------------------------------------------------------------- registry


def _spec(
    name: str,
    category: str,
    n_inputs: int,
    params: tuple[str, ...],
    compute: Callable[[list[Value], tuple], Array],
    unit_rule: Callable[[list[Unit], tuple], Unit],
    description: str,
    *,
    same_unit: tuple[int, ...] = (),
    min_window: int = 1,
) -> OpSpec:
    return OpSpec(
        name, category, n_inputs, params, compute, unit_rule, same_unit, min_window, description
    )


_W = ("window",)

OPERATORS: dict[str, OpSpec] = {
    s.name: s
    for s in [
        # element-wise, one input
        _spec("Abs", "unary", 1, (), _np1(np.abs), _u_first, "absolute value"),
        _spec("Sign", "unary", 1, (), _sign, _u_ratio, "sign (-1, 0, 1)"),
        _spec("Log", "unary", 1, (), _log, _u_log, "natural logarithm"),
        _spec("Not", "unary", 1, (), _not, _u_bool, "logical not (1 where x == 0)"),
        # element-wise, two inputs
        _spec(
            "Add", "binary", 2, (), _arithmetic(ew.ADD, np.add), _u_add, "x + y", same_unit=(0, 1)
        ),
        _spec(
            "Sub",
            "binary",
            2,
            (),
            _arithmetic(ew.SUB, np.subtract),
            _u_sub,
            "x - y",
            same_unit=(0, 1),
        ),
        _spec("Mul", "binary", 2, (), _arithmetic(ew.MUL, np.multiply), _u_mul, "x * y"),
        _spec("Div", "binary", 2, (), _arithmetic(ew.DIV, np.divide), _u_div, "x / y"),
        _spec("Power", "binary", 2, (), _np2(np.power), _u_power, "x ** y"),
        _spec("Greater", "binary", 2, (), _greater, _u_same, "max(x, y)", same_unit=(0, 1)),
        _spec("Less", "binary", 2, (), _less, _u_same, "min(x, y)", same_unit=(0, 1)),
        _spec("Gt", "binary", 2, (), _cmp(np.greater), _u_bool, "x > y", same_unit=(0, 1)),
        _spec("Ge", "binary", 2, (), _cmp(np.greater_equal), _u_bool, "x >= y", same_unit=(0, 1)),
        _spec("Lt", "binary", 2, (), _cmp(np.less), _u_bool, "x < y", same_unit=(0, 1)),
        _spec("Le", "binary", 2, (), _cmp(np.less_equal), _u_bool, "x <= y", same_unit=(0, 1)),
        _spec("Eq", "binary", 2, (), _cmp(np.equal), _u_bool, "x == y", same_unit=(0, 1)),
        _spec("Ne", "binary", 2, (), _cmp(np.not_equal), _u_bool, "x != y", same_unit=(0, 1)),
        _spec("And", "binary", 2, (), _logic(np.logical_and), _u_bool, "x and y (non-zero)"),
        _spec("Or", "binary", 2, (), _logic(np.logical_or), _u_bool, "x or y (non-zero)"),
        _spec("If", "ternary", 3, (), _if, _u_if, "y where x != 0 else z", same_unit=(1, 2)),
        # rolling, one input
        _spec("Ref", "rolling", 1, ("offset",), _ref, _u_first, "value d rows earlier"),
        _spec("Delta", "rolling", 1, ("lag",), _delta, _u_spread, "x - Ref(x, d)"),
        _spec("Mean", "rolling", 1, _W, _rolling(rk.rolling_mean_nb), _u_mean, "rolling mean"),
        _spec("Sum", "rolling", 1, _W, _rolling(rk.rolling_sum_nb), _u_sum, "rolling sum"),
        _spec(
            "Std",
            "rolling",
            1,
            _W,
            _flat(_rolling(rk.rolling_std_nb), 0.0),
            _u_spread,
            "rolling std (ddof=1)",
            min_window=2,
        ),
        _spec(
            "Var",
            "rolling",
            1,
            _W,
            _flat(_rolling(rk.rolling_var_nb), 0.0),
            _u_square,
            "rolling variance (ddof=1)",
            min_window=2,
        ),
        _spec(
            "Skew",
            "rolling",
            1,
            _W,
            _flat(_rolling(rk.rolling_skew_nb), np.nan),
            _u_ratio,
            "rolling skewness (pandas)",
            min_window=3,
        ),
        _spec(
            "Kurt",
            "rolling",
            1,
            _W,
            _flat(_rolling(rk.rolling_kurt_nb), np.nan),
            _u_ratio,
            "rolling excess kurtosis (pandas)",
            min_window=5,
        ),
        _spec("Max", "rolling", 1, _W, _rolling(rx.rolling_max_nb), _u_first, "rolling max"),
        _spec("Min", "rolling", 1, _W, _rolling(rx.rolling_min_nb), _u_first, "rolling min"),
        _spec(
            "IdxMax",
            "rolling",
            1,
            _W,
            _rolling(rx.rolling_argmax_nb),
            _u_count,
            "1-based position of the window max (oldest = 1)",
        ),
        _spec(
            "IdxMin",
            "rolling",
            1,
            _W,
            _rolling(rx.rolling_argmin_nb),
            _u_count,
            "1-based position of the window min (oldest = 1)",
        ),
        _spec("Med", "rolling", 1, _W, _rolling(ro.rolling_median_nb), _u_first, "rolling median"),
        _spec(
            "Mad",
            "rolling",
            1,
            _W,
            _flat(_rolling(rk.rolling_mad_nb), 0.0),
            _u_spread,
            "rolling mean absolute deviation",
        ),
        _spec(
            "Quantile",
            "rolling",
            1,
            ("window", "prob"),
            _quantile,
            _u_first,
            "rolling quantile (linear interpolation)",
        ),
        _spec(
            "Rank",
            "rolling",
            1,
            _W,
            _rolling(ro.rolling_rank_nb),
            _u_ratio,
            "percentile rank of the last value in its window",
        ),
        _spec(
            "Count",
            "rolling",
            1,
            _W,
            _rolling(rk.rolling_count_nb),
            _u_count,
            "number of finite values in the window",
        ),
        _spec(
            "Slope",
            "rolling",
            1,
            _W,
            _flat(_rolling(rk.rolling_slope_nb), 0.0),
            _u_spread,
            "regression slope on 1..w",
            min_window=2,
        ),
        _spec(
            "Rsquare",
            "rolling",
            1,
            _W,
            _flat(_rolling(rk.rolling_rsquare_nb), np.nan),
            _u_ratio,
            "regression R^2 on 1..w",
            min_window=2,
        ),
        _spec(
            "Resi",
            "rolling",
            1,
            _W,
            _flat(_rolling(rk.rolling_resi_nb), 0.0),
            _u_spread,
            "regression residual of the last value",
            min_window=2,
        ),
        _spec("WMA", "rolling", 1, _W, _rolling(rk.rolling_wma_nb), _u_wma, "Qlib WMA"),
        _spec("EMA", "rolling", 1, ("span",), _ema, _u_first, "exponential moving average"),
        # rolling, two inputs
        _spec(
            "Cov",
            "pair_rolling",
            2,
            _W,
            _flat(_pair(rk.rolling_cov_nb), 0.0),
            _u_cov,
            "rolling covariance (ddof=1)",
            min_window=2,
        ),
        _spec(
            "Corr",
            "pair_rolling",
            2,
            _W,
            _flat(_pair(rk.rolling_corr_nb), np.nan),
            _u_ratio,
            "rolling Pearson correlation",
            min_window=2,
        ),
        # cross-section
        _spec("CSRank", "cross_section", 1, (), _cs(cs.cs_rank_nb), _u_ratio, "per-date rank"),
        _spec(
            "CSZScore", "cross_section", 1, (), _cs(cs.cs_zscore_nb), _u_ratio, "per-date z-score"
        ),
        _spec(
            "CSDemean", "cross_section", 1, (), _cs(cs.cs_demean_nb), _u_first, "per-date demean"
        ),
    ]
}

ALIASES: dict[str, str] = {"Pow": "Power"}

#: AlphaGen's 22 operators (``alphagen/data/expression.py``), all present in the registry.
ALPHAGEN_OPERATORS: tuple[str, ...] = (
    "Abs",
    "Log",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Greater",
    "Less",
    "Ref",
    "Mean",
    "Sum",
    "Std",
    "Var",
    "Max",
    "Min",
    "Med",
    "Mad",
    "Delta",
    "WMA",
    "EMA",
    "Cov",
    "Corr",
)

#: Infix operators -> operator names.
INFIX: dict[str, str] = {
    "+": "Add",
    "-": "Sub",
    "*": "Mul",
    "/": "Div",
    ">": "Gt",
    "<": "Lt",
    ">=": "Ge",
    "<=": "Le",
    "==": "Eq",
    "!=": "Ne",
    "&": "And",
    "|": "Or",
}

_LOWER = {k.lower(): k for k in OPERATORS} | {k.lower(): v for k, v in ALIASES.items()}


def lookup(name: str) -> OpSpec | None:
    """Operator spec by name (exact, alias, then case-insensitive); None when unknown."""
    if not isinstance(name, str):
        return None
    if name in OPERATORS:
        return OPERATORS[name]
    if name in ALIASES:
        return OPERATORS[ALIASES[name]]
    canon = _LOWER.get(name.lower())
    return OPERATORS[canon] if canon else None


#: Largest window, lag, offset or span (in rows) a formula may use: longer windows are refused
#: at parse time, so no kernel ever sees a window near the int64 limit.
MAX_WINDOW = 100_000

#: Deepest expression tree a formula may build (Alpha158/Alpha360 formulas are at most 9 deep).
MAX_DEPTH = 64


def check_param(spec: OpSpec, kind: str, value: float) -> tuple[float | int, str | None]:
    """Validate one numeric parameter; return (normalised value, error message or None).

    Windows, lags, offsets and integer spans must be whole numbers of rows within
    ``MAX_WINDOW``; an EMA smoothing factor must not imply a longer window.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return value, f"{spec.name}: parameter must be a number, got {value!r}"
    value = float(value)
    if not math.isfinite(value):
        return value, f"{spec.name}: parameter must be finite, got {value}"
    integral = value.is_integer()
    if kind in ("window", "lag", "offset", "span") and abs(value) > MAX_WINDOW and integral:
        return value, (f"{spec.name}: {kind} {_fmt(value)} is too long (at most {MAX_WINDOW} rows)")
    if kind == "window":
        if not integral or value < spec.min_window:
            lo = spec.min_window
            return value, (
                f"{spec.name}: window must be an integer >= {lo}, got {_fmt(value)}"
                if lo > 1
                else f"{spec.name}: window must be a positive integer, got {_fmt(value)}"
            )
        return int(value), None
    if kind == "lag":
        if not integral or value < 1:
            return value, f"{spec.name}: lag must be a positive integer, got {_fmt(value)}"
        return int(value), None
    if kind == "offset":
        if not integral or value == 0:
            return value, f"{spec.name}: offset must be a non-zero integer, got {_fmt(value)}"
        return int(value), None
    if kind == "span":
        if integral and value >= 1:
            return int(value), None
        if 0.0 < value < 1.0:
            if ema_window(value) > MAX_WINDOW:
                return value, (
                    f"{spec.name}: smoothing factor {_fmt(value)} implies a window longer than "
                    f"{MAX_WINDOW} rows"
                )
            return float(value), None
        return value, (
            f"{spec.name}: span must be an integer >= 1 or a smoothing factor in (0, 1), "
            f"got {_fmt(value)}"
        )
    if kind == "prob":
        if not 0.0 <= value <= 1.0:
            return value, f"{spec.name}: quantile must lie in [0, 1], got {_fmt(value)}"
        return float(value), None
    return value, f"{spec.name}: unknown parameter kind {kind}"


def _fmt(value: float) -> str:
    return format_number(value)


def format_number(value: float) -> str:
    """Canonical text of a number: integers without a dot, others by shortest repr."""
    v = float(value)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)
