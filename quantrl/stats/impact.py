"""Price impact of order flow: binned impact curves, a linearity test and walk-forward R^2.

``impact_frame`` turns a limit-order-book panel (``btcusdt_lob``: per-minute market ``buys`` and
``sells`` notional, the book's depth and the ``midpoint``) into one row per minute: the target,
the midpoint's log return over the minute in basis points, and features known from the minute's
trades (signed order-flow imbalance ``ofi = buys - sells`` and volume, in USD millions) or from
the minute before (spread, depth and book imbalance of the previous snapshot, the previous return,
a trailing 10-minute volatility).

``linearity_test`` fits the conditional mean return on small flows (``|ofi|`` up to a quantile)
by OLS, linear against linear + quadratic, and returns the F-test p-value of the quadratic term
(statsmodels). ``walk_forward_r2`` scores a model over expanding time folds: fit on every row
before a fold, predict the fold, pool the squared errors; R^2 is against the training mean of each
fold (the out-of-sample R^2 of Campbell & Thompson).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import statsmodels.api as sm

from quantrl.data.panel import Panel
from quantrl.errors import ConfigError

FEATURES = (
    "ofi",
    "volume",
    "spread_prev",
    "depth_prev",
    "book_imbalance_prev",
    "ret_prev",
    "vol_prev",
)
"""Columns of ``impact_frame`` that a forecasting model may use (the Kyle model uses ``ofi``)."""

Model = Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], np.ndarray]
"""``model(x_train, y_train, x_test) -> predictions`` for ``walk_forward_r2``."""


def _depth(panel: Panel, side: str, levels: int) -> np.ndarray:
    """Resting notional on ``side`` (``bids``/``asks``) summed over the first ``levels`` levels."""
    return sum(
        np.asarray(panel[f"{side}_notional_{i}"], dtype=np.float64)[:, 0] for i in range(levels)
    )


def impact_frame(panel: Panel, levels: int = 5) -> pd.DataFrame:
    """One row per minute (from the second): ``ret_bps``, the target, and ``FEATURES``."""
    mid = np.asarray(panel["midpoint"], dtype=np.float64)[:, 0]
    buys = np.asarray(panel["buys"], dtype=np.float64)[:, 0]
    sells = np.asarray(panel["sells"], dtype=np.float64)[:, 0]
    spread = np.asarray(panel["spread"], dtype=np.float64)[:, 0]
    bid, ask = _depth(panel, "bids", levels), _depth(panel, "asks", levels)
    ret = np.full(mid.size, np.nan)
    ret[1:] = np.log(mid[1:] / mid[:-1]) * 1e4
    prev = np.roll(ret, 1)
    prev[:2] = np.nan
    vol = pd.Series(prev).rolling(10, min_periods=3).std().to_numpy()
    frame = pd.DataFrame(
        {
            "ret_bps": ret,
            "ofi": (buys - sells) / 1e6,
            "volume": (buys + sells) / 1e6,
            "spread_prev": np.roll(spread / mid * 1e4, 1),
            "depth_prev": np.roll((bid + ask) / 1e6, 1),
            "book_imbalance_prev": np.roll((bid - ask) / np.maximum(bid + ask, 1e-12), 1),
            "ret_prev": prev,
            "vol_prev": vol,
        },
        index=pd.Index(panel.dates, name="time"),
    )
    return frame.iloc[1:]


def binned_impact(ofi: np.ndarray, ret: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean return per equal-count bin of ``ofi``: rows ``n``, ``ofi_mean``, ``ret_mean``, ``ret_se``."""
    ofi, ret = np.asarray(ofi, dtype=np.float64), np.asarray(ret, dtype=np.float64)
    order = np.argsort(ofi, kind="stable")
    rows = []
    for k, idx in enumerate(np.array_split(order, bins)):
        r = ret[idx]
        se = float(r.std(ddof=1) / np.sqrt(r.size)) if r.size > 1 else np.nan
        rows.append(
            {"bin": k, "n": r.size, "ofi_mean": ofi[idx].mean(), "ret_mean": r.mean(), "ret_se": se}
        )
    return pd.DataFrame(rows).set_index("bin")


def linearity_test(ofi: np.ndarray, ret: np.ndarray, quantile: float = 0.8) -> dict[str, float]:
    """Linear vs quadratic OLS of ``ret`` on ``ofi`` where ``|ofi|`` <= its ``quantile``.

    Returns the cut-off, rows used, the linear slope, its t-statistic, the linear R^2 and the
    F-test p-value of adding ``ofi^2`` (statsmodels ``compare_f_test``).
    """
    if not 0.0 < quantile <= 1.0:
        raise ConfigError(f"quantile must be in (0, 1], got {quantile}")
    ofi, ret = np.asarray(ofi, dtype=np.float64), np.asarray(ret, dtype=np.float64)
    ok = np.isfinite(ofi) & np.isfinite(ret)
    cut = float(np.quantile(np.abs(ofi[ok]), quantile))
    keep = ok & (np.abs(ofi) <= cut)
    x, y = ofi[keep], ret[keep]
    linear = sm.OLS(y, sm.add_constant(x)).fit()
    quad = sm.OLS(y, sm.add_constant(np.column_stack([x, x * x]))).fit()
    _, p, _ = quad.compare_f_test(linear)
    return {
        "cutoff": cut,
        "n": int(keep.sum()),
        "slope": float(linear.params[1]),
        "slope_t": float(linear.tvalues[1]),
        "r2_linear": float(linear.rsquared),
        "quadratic_p": float(p),
    }


def fold_bounds(n: int, first_train: float = 0.5, folds: int = 5) -> list[tuple[int, int]]:
    """(start, end) rows of ``folds`` consecutive test folds after the first ``first_train`` rows."""
    if not 0.0 < first_train < 1.0 or folds < 1:
        raise ConfigError("first_train must be in (0, 1) and folds at least 1")
    edges = np.linspace(int(n * first_train), n, folds + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def walk_forward_r2(
    frame: pd.DataFrame, model: Model, *, first_train: float = 0.5, folds: int = 5
) -> tuple[float, np.ndarray]:
    """Pooled out-of-sample R^2 of ``model`` over expanding folds, and its predictions (NaN in-sample).

    Each fold's model sees only the rows before the fold; the benchmark of each fold is the
    mean target of those rows.
    """
    y = frame["ret_bps"].to_numpy(dtype=np.float64)
    x = frame.loc[:, list(FEATURES)]
    pred = np.full(y.size, np.nan)
    bench = np.full(y.size, np.nan)
    for a, b in fold_bounds(len(frame), first_train, folds):
        pred[a:b] = model(x.iloc[:a], y[:a], x.iloc[a:b])
        bench[a:b] = y[:a].mean()
    done = np.isfinite(pred)
    sse = float(((y[done] - pred[done]) ** 2).sum())
    sst = float(((y[done] - bench[done]) ** 2).sum())
    return 1.0 - sse / sst, pred


def kyle_model(x_train: pd.DataFrame, y_train: np.ndarray, x_test: pd.DataFrame) -> np.ndarray:
    """Kyle's linear model: OLS of the return on ``ofi`` with an intercept."""
    a = sm.add_constant(x_train["ofi"].to_numpy(dtype=np.float64), has_constant="add")
    fit = sm.OLS(y_train, a).fit()
    b = sm.add_constant(x_test["ofi"].to_numpy(dtype=np.float64), has_constant="add")
    return fit.predict(b)


GBM_PARAMS = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 8,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "n_jobs": 1,
    "verbose": -1,
}
"""LightGBM settings of ``gbm_model`` (fixed in advance, not tuned)."""


def gbm_model(seed: int) -> Model:
    """A LightGBM regressor on all ``FEATURES`` (bagging and column sampling seeded by ``seed``)."""
    import lightgbm as lgb

    def fit_predict(x_train: pd.DataFrame, y_train: np.ndarray, x_test: pd.DataFrame) -> np.ndarray:
        model = lgb.LGBMRegressor(random_state=seed, **GBM_PARAMS)
        model.fit(x_train, y_train)
        return model.predict(x_test)

    return fit_predict


__all__ = [
    "FEATURES",
    "GBM_PARAMS",
    "Model",
    "binned_impact",
    "fold_bounds",
    "gbm_model",
    "impact_frame",
    "kyle_model",
    "linearity_test",
    "walk_forward_r2",
]
