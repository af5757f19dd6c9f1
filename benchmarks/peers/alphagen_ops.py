"""AlphaGen's expression evaluation and IC, re-implemented faithfully in torch (CPU).

AlphaGen (RL-MLDM/alphagen) is not a PyPI package, so this module mirrors its code:
``alphagen/data/expression.py`` (Feature/Constant/DeltaTime, Unary/Binary/Rolling/PairRolling
operators evaluated on ``(days, stocks)`` tensors, rolling windows built with ``Tensor.unfold``,
``Ref``/``Delta`` by re-slicing the period), ``alphagen_qlib/stock_data.py`` (a data tensor of
shape ``(backtrack + days + future, features, stocks)``), ``alphagen/utils/pytorch_utils.py``
(``masked_mean_std``, ``normalize_by_day``) and ``alphagen/utils/correlation.py``
(``batch_pearsonr``, ``batch_spearmanr``). The operator bodies are AlphaGen's, line for line;
only the data loading (qlib) is replaced by a tensor passed in.

Known definition differences with Qlib (and quantrl): AlphaGen's ``EMA`` is truncated to its
window with weights ``(1-2/(1+n))^k``; its ``WMA`` uses weights ``0..n-1``; ``Med`` is
``torch.median`` (the lower middle value for even windows).
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from enum import IntEnum

import torch
from torch import Tensor


class FeatureType(IntEnum):
    """Feature order of AlphaGen's StockData tensor."""

    OPEN = 0
    CLOSE = 1
    HIGH = 2
    LOW = 3
    VOLUME = 4
    VWAP = 5


class OutOfDataRangeError(IndexError):
    """A formula needs more history or future than the data tensor holds."""


class StockData:
    """AlphaGen's StockData, given its tensor directly: (backtrack + days + future, F, stocks)."""

    def __init__(self, data: Tensor, max_backtrack_days: int, max_future_days: int) -> None:
        self.data = data
        self.max_backtrack_days = max_backtrack_days
        self.max_future_days = max_future_days

    @property
    def n_days(self) -> int:
        """Days of the evaluation period (backtrack and future rows excluded)."""
        return self.data.shape[0] - self.max_backtrack_days - self.max_future_days

    @property
    def n_stocks(self) -> int:
        """Number of stocks."""
        return self.data.shape[-1]


class Expression(metaclass=ABCMeta):
    """AlphaGen's expression base class."""

    @abstractmethod
    def evaluate(self, data: StockData, period: slice = slice(0, 1)) -> Tensor:
        """Values over ``period`` (relative day offsets), shape (days, stocks)."""

    @property
    @abstractmethod
    def is_featured(self) -> bool:
        """True when the expression reads market data."""


class Feature(Expression):
    """A raw feature column of the data tensor."""

    def __init__(self, feature: FeatureType) -> None:
        self._feature = feature

    def evaluate(self, data: StockData, period: slice = slice(0, 1)) -> Tensor:
        """Slice the data tensor for the period."""
        assert period.step == 1 or period.step is None
        if period.start < -data.max_backtrack_days or period.stop - 1 > data.max_future_days:
            raise OutOfDataRangeError()
        start = period.start + data.max_backtrack_days
        stop = period.stop + data.max_backtrack_days + data.n_days - 1
        return data.data[start:stop, int(self._feature), :]

    def __str__(self) -> str:
        return "$" + self._feature.name.lower()

    @property
    def is_featured(self) -> bool:
        """Always True."""
        return True


class Constant(Expression):
    """A constant tensor."""

    def __init__(self, value: float) -> None:
        self.value = value

    def evaluate(self, data: StockData, period: slice = slice(0, 1)) -> Tensor:
        """A full tensor of the value."""
        assert period.step == 1 or period.step is None
        if period.start < -data.max_backtrack_days or period.stop - 1 > data.max_future_days:
            raise OutOfDataRangeError()
        days = period.stop - period.start - 1 + data.n_days
        return torch.full(
            size=(days, data.n_stocks),
            fill_value=self.value,
            dtype=data.data.dtype,
            device=data.data.device,
        )

    def __str__(self) -> str:
        return str(self.value)

    @property
    def is_featured(self) -> bool:
        """Always False."""
        return False


def _into_expr(value: Expression | float) -> Expression:
    return value if isinstance(value, Expression) else Constant(value)


class Operator(Expression):
    """Operator base class."""

    @property
    @abstractmethod
    def operands(self) -> tuple:
        """Operands, windows last."""

    def __str__(self) -> str:
        return f"{type(self).__name__}({','.join(str(op) for op in self.operands)})"


class UnaryOperator(Operator):
    """Element-wise operator on one operand."""

    def __init__(self, operand: Expression | float) -> None:
        self._operand = _into_expr(operand)

    def evaluate(self, data: StockData, period: slice = slice(0, 1)) -> Tensor:
        """Apply to the operand's values."""
        return self._apply(self._operand.evaluate(data, period))

    @abstractmethod
    def _apply(self, operand: Tensor) -> Tensor: ...

    @property
    def operands(self) -> tuple:
        """(operand,)."""
        return (self._operand,)

    @property
    def is_featured(self) -> bool:
        """Featured when the operand is."""
        return self._operand.is_featured


class BinaryOperator(Operator):
    """Element-wise operator on two operands."""

    def __init__(self, lhs: Expression | float, rhs: Expression | float) -> None:
        self._lhs = _into_expr(lhs)
        self._rhs = _into_expr(rhs)

    def evaluate(self, data: StockData, period: slice = slice(0, 1)) -> Tensor:
        """Apply to both operands' values."""
        return self._apply(self._lhs.evaluate(data, period), self._rhs.evaluate(data, period))

    @abstractmethod
    def _apply(self, lhs: Tensor, rhs: Tensor) -> Tensor: ...

    @property
    def operands(self) -> tuple:
        """(lhs, rhs)."""
        return self._lhs, self._rhs

    @property
    def is_featured(self) -> bool:
        """Featured when either operand is."""
        return self._lhs.is_featured or self._rhs.is_featured


class RollingOperator(Operator):
    """Rolling-window operator: evaluates the operand over a longer period, then ``unfold``."""

    def __init__(self, operand: Expression | float, delta_time: int) -> None:
        self._operand = _into_expr(operand)
        self._delta_time = int(delta_time)

    def evaluate(self, data: StockData, period: slice = slice(0, 1)) -> Tensor:
        """(L + W - 1, S) values unfolded into (L, S, W) windows."""
        start = period.start - self._delta_time + 1
        stop = period.stop
        values = self._operand.evaluate(data, slice(start, stop))
        values = values.unfold(0, self._delta_time, 1)
        return self._apply(values)

    @abstractmethod
    def _apply(self, operand: Tensor) -> Tensor: ...

    @property
    def operands(self) -> tuple:
        """(operand, window)."""
        return self._operand, self._delta_time

    @property
    def is_featured(self) -> bool:
        """Featured when the operand is."""
        return self._operand.is_featured


class PairRollingOperator(Operator):
    """Rolling-window operator on two operands."""

    def __init__(self, lhs: Expression | float, rhs: Expression | float, delta_time: int) -> None:
        self._lhs = _into_expr(lhs)
        self._rhs = _into_expr(rhs)
        self._delta_time = int(delta_time)

    def _unfold_one(self, expr: Expression, data: StockData, period: slice) -> Tensor:
        start = period.start - self._delta_time + 1
        stop = period.stop
        values = expr.evaluate(data, slice(start, stop))
        return values.unfold(0, self._delta_time, 1)

    def evaluate(self, data: StockData, period: slice = slice(0, 1)) -> Tensor:
        """Unfold both operands and apply."""
        lhs = self._unfold_one(self._lhs, data, period)
        rhs = self._unfold_one(self._rhs, data, period)
        return self._apply(lhs, rhs)

    @abstractmethod
    def _apply(self, lhs: Tensor, rhs: Tensor) -> Tensor: ...

    @property
    def operands(self) -> tuple:
        """(lhs, rhs, window)."""
        return self._lhs, self._rhs, self._delta_time

    @property
    def is_featured(self) -> bool:
        """Featured when either operand is."""
        return self._lhs.is_featured or self._rhs.is_featured


# --------------------------------------------------------------------------- the 22 operators


class Abs(UnaryOperator):
    """|x|."""

    def _apply(self, operand: Tensor) -> Tensor:
        return operand.abs()


class Log(UnaryOperator):
    """log(x)."""

    def _apply(self, operand: Tensor) -> Tensor:
        return operand.log()


class Add(BinaryOperator):
    """x + y."""

    def _apply(self, lhs: Tensor, rhs: Tensor) -> Tensor:
        return lhs + rhs


class Sub(BinaryOperator):
    """x - y."""

    def _apply(self, lhs: Tensor, rhs: Tensor) -> Tensor:
        return lhs - rhs


class Mul(BinaryOperator):
    """x * y."""

    def _apply(self, lhs: Tensor, rhs: Tensor) -> Tensor:
        return lhs * rhs


class Div(BinaryOperator):
    """x / y."""

    def _apply(self, lhs: Tensor, rhs: Tensor) -> Tensor:
        return lhs / rhs


class Greater(BinaryOperator):
    """max(x, y)."""

    def _apply(self, lhs: Tensor, rhs: Tensor) -> Tensor:
        return lhs.max(rhs)


class Less(BinaryOperator):
    """min(x, y)."""

    def _apply(self, lhs: Tensor, rhs: Tensor) -> Tensor:
        return lhs.min(rhs)


class Ref(RollingOperator):
    """Value dt days earlier (re-slices the period)."""

    def evaluate(self, data: StockData, period: slice = slice(0, 1)) -> Tensor:
        """Shifted period."""
        start = period.start - self._delta_time
        stop = period.stop - self._delta_time
        return self._operand.evaluate(data, slice(start, stop))

    def _apply(self, operand: Tensor) -> Tensor:  # pragma: no cover - interface only
        return operand


class Mean(RollingOperator):
    """Rolling mean."""

    def _apply(self, operand: Tensor) -> Tensor:
        return operand.mean(dim=-1)


class Sum(RollingOperator):
    """Rolling sum."""

    def _apply(self, operand: Tensor) -> Tensor:
        return operand.sum(dim=-1)


class Std(RollingOperator):
    """Rolling std (unbiased)."""

    def _apply(self, operand: Tensor) -> Tensor:
        return operand.std(dim=-1)


class Var(RollingOperator):
    """Rolling variance (unbiased)."""

    def _apply(self, operand: Tensor) -> Tensor:
        return operand.var(dim=-1)


class Max(RollingOperator):
    """Rolling max."""

    def _apply(self, operand: Tensor) -> Tensor:
        return operand.max(dim=-1)[0]


class Min(RollingOperator):
    """Rolling min."""

    def _apply(self, operand: Tensor) -> Tensor:
        return operand.min(dim=-1)[0]


class Med(RollingOperator):
    """Rolling median (torch: lower middle value)."""

    def _apply(self, operand: Tensor) -> Tensor:
        return operand.median(dim=-1)[0]


class Mad(RollingOperator):
    """Rolling mean absolute deviation."""

    def _apply(self, operand: Tensor) -> Tensor:
        central = operand - operand.mean(dim=-1, keepdim=True)
        return central.abs().mean(dim=-1)


class Delta(RollingOperator):
    """x - Ref(x, dt)."""

    def evaluate(self, data: StockData, period: slice = slice(0, 1)) -> Tensor:
        """Difference of the extended period with itself shifted."""
        start = period.start - self._delta_time
        stop = period.stop
        values = self._operand.evaluate(data, slice(start, stop))
        return values[self._delta_time :] - values[: -self._delta_time]

    def _apply(self, operand: Tensor) -> Tensor:  # pragma: no cover - interface only
        return operand


class WMA(RollingOperator):
    """AlphaGen WMA: weights arange(n) normalised."""

    def _apply(self, operand: Tensor) -> Tensor:
        n = operand.shape[-1]
        weights = torch.arange(n, dtype=operand.dtype, device=operand.device)
        weights /= weights.sum()
        return (weights * operand).sum(dim=-1)


class EMA(RollingOperator):
    """AlphaGen EMA: window-truncated exponential weights."""

    def _apply(self, operand: Tensor) -> Tensor:
        n = operand.shape[-1]
        alpha = 1 - 2 / (1 + n)
        power = torch.arange(n, 0, -1, dtype=operand.dtype, device=operand.device)
        weights = alpha**power
        weights /= weights.sum()
        return (weights * operand).sum(dim=-1)


class Cov(PairRollingOperator):
    """Rolling covariance (n - 1)."""

    def _apply(self, lhs: Tensor, rhs: Tensor) -> Tensor:
        n = lhs.shape[-1]
        clhs = lhs - lhs.mean(dim=-1, keepdim=True)
        crhs = rhs - rhs.mean(dim=-1, keepdim=True)
        return (clhs * crhs).sum(dim=-1) / (n - 1)


class Corr(PairRollingOperator):
    """Rolling correlation (std products below 1e-6 replaced by 1)."""

    def _apply(self, lhs: Tensor, rhs: Tensor) -> Tensor:
        clhs = lhs - lhs.mean(dim=-1, keepdim=True)
        crhs = rhs - rhs.mean(dim=-1, keepdim=True)
        ncov = (clhs * crhs).sum(dim=-1)
        nlvar = (clhs**2).sum(dim=-1)
        nrvar = (crhs**2).sum(dim=-1)
        stdmul = (nlvar * nrvar).sqrt()
        stdmul[(nlvar < 1e-6) | (nrvar < 1e-6)] = 1
        return ncov / stdmul


OPERATORS: dict[str, type[Operator]] = {
    cls.__name__: cls
    for cls in (
        Abs, Log, Add, Sub, Mul, Div, Greater, Less, Ref, Mean, Sum, Std, Var, Max, Min,
        Med, Mad, Delta, WMA, EMA, Cov, Corr,
    )
}  # fmt: skip


# --------------------------------------------------------------------------- IC (AlphaGen)


def masked_mean_std(
    x: Tensor, n: Tensor | None = None, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Per-day mean and (biased) std ignoring masked entries."""
    if mask is None:
        mask = torch.isnan(x)
    if n is None:
        n = (~mask).sum(dim=1)
    x = x.clone()
    x[mask] = 0.0
    mean = x.sum(dim=1) / n
    std = ((((x - mean[:, None]) * ~mask) ** 2).sum(dim=1) / n).sqrt()
    return mean, std


def normalize_by_day(value: Tensor) -> Tensor:
    """Cross-sectional z-score per day, NaN -> 0 (AlphaGen's calculator input)."""
    mean, std = masked_mean_std(value)
    value = (value - mean[:, None]) / std[:, None]
    nan_mask = torch.isnan(value)
    value[nan_mask] = 0.0
    return value


def _mask_either_nan(x: Tensor, y: Tensor, fill_with: float = torch.nan) -> tuple:
    x = x.clone()
    y = y.clone()
    nan_mask = x.isnan() | y.isnan()
    x[nan_mask] = fill_with
    y[nan_mask] = fill_with
    n = (~nan_mask).sum(dim=1)
    return x, y, n, nan_mask


def _rank_data_1d(x: Tensor) -> Tensor:
    _, inv, counts = x.unique(return_inverse=True, return_counts=True)
    cs = counts.cumsum(dim=0)
    cs = torch.cat((torch.zeros(1, dtype=x.dtype, device=x.device), cs))
    rmin = cs[:-1]
    rmax = cs[1:] - 1
    ranks = (rmin + rmax) / 2
    return ranks[inv]


def _rank_data(x: Tensor, nan_mask: Tensor) -> Tensor:
    rank = torch.stack([_rank_data_1d(row) for row in x])
    rank[nan_mask] = 0
    return rank


def _batch_pearsonr_given_mask(x: Tensor, y: Tensor, n: Tensor, mask: Tensor) -> Tensor:
    x_mean, x_std = masked_mean_std(x, n, mask)
    y_mean, y_std = masked_mean_std(y, n, mask)
    cov = (x * y).sum(dim=1) / n - x_mean * y_mean
    stdmul = x_std * y_std
    stdmul[(x_std < 1e-3) | (y_std < 1e-3)] = 1
    return cov / stdmul


def batch_spearmanr(x: Tensor, y: Tensor) -> Tensor:
    """Per-day Spearman correlation (AlphaGen)."""
    x, y, n, nan_mask = _mask_either_nan(x, y)
    rx = _rank_data(x, nan_mask)
    ry = _rank_data(y, nan_mask)
    return _batch_pearsonr_given_mask(rx, ry, n, nan_mask)


def batch_pearsonr(x: Tensor, y: Tensor) -> Tensor:
    """Per-day Pearson correlation (AlphaGen)."""
    return _batch_pearsonr_given_mask(*_mask_either_nan(x, y, fill_with=0.0))


# --------------------------------------------------------------------------- building trees


def build(tree: object) -> Expression:
    """Build an AlphaGen expression from a quantrl tree (node ``name``/``children``/``params``)."""
    kind = getattr(tree, "kind", None)
    if kind == "feature":
        return Feature(FeatureType[tree.name.upper()])  # type: ignore[attr-defined]
    if kind == "constant":
        return Constant(float(tree.value))  # type: ignore[attr-defined]
    cls = OPERATORS[tree.name]  # type: ignore[attr-defined]
    kids = [build(c) for c in tree.children]  # type: ignore[attr-defined]
    return cls(*kids, *[int(p) for p in tree.params])  # type: ignore[attr-defined]


def make_stock_data(
    fields: dict[str, Tensor], max_backtrack_days: int, max_future_days: int
) -> StockData:
    """Stack (T, N) field tensors into AlphaGen's (T, features, N) layout."""
    order = [f.name.lower() for f in FeatureType]
    data = torch.stack([fields[name] for name in order], dim=1)
    return StockData(data, max_backtrack_days, max_future_days)
