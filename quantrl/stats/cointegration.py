"""Engle-Granger cointegration p-values of every pair, with a Holm correction over the pairs tried.

``coint_pairs`` runs statsmodels' ``coint`` (OLS of ``log a`` on ``log b`` with a constant, an ADF
test on the residual with MacKinnon's p-value; lags chosen by AIC by default) on every pair of a panel's symbols and adjusts the p-values with Holm's
step-down method over all the pairs tried (statsmodels ``multipletests``): a pair is selected when
its adjusted p-value is below ``alpha``, so the chance of selecting any non-cointegrated pair is
at most ``alpha``.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests
from statsmodels.tsa.stattools import coint

from quantrl.data.panel import Panel


def coint_pvalue(
    log_a: np.ndarray, log_b: np.ndarray, *, maxlag: int | None = None, autolag: str | None = "aic"
) -> tuple[float, float]:
    """(ADF t-statistic, MacKinnon p-value) of the Engle-Granger test of ``log_a`` on ``log_b``.

    Lags: chosen by ``autolag`` up to ``maxlag`` (statsmodels' default bound when None), or
    exactly ``maxlag`` with ``autolag=None``.
    """
    stat, p, _ = coint(log_a, log_b, trend="c", maxlag=maxlag, autolag=autolag)
    return float(stat), float(p)


def coint_pairs(
    panel: Panel, *, alpha: float = 0.05, maxlag: int | None = None, autolag: str | None = "aic"
) -> pd.DataFrame:
    """Every pair of ``panel``'s symbols: hedge ratio, t, p, Holm-adjusted p and ``selected``.

    Rows are sorted by p-value (then names); pairs with a missing close are skipped.
    """
    close = np.asarray(panel["close"], dtype=np.float64)
    ok = np.isfinite(close).all(axis=0) & (close > 0).all(axis=0)
    logc = np.log(np.where(close > 0, close, np.nan))
    rows = []
    for i, j in combinations(np.flatnonzero(ok), 2):
        stat, p = coint_pvalue(logc[:, i], logc[:, j], maxlag=maxlag, autolag=autolag)
        beta = float(np.polyfit(logc[:, j], logc[:, i], 1)[0])
        rows.append(
            {"a": panel.symbols[i], "b": panel.symbols[j], "beta": beta, "adf_t": stat, "p": p}
        )
    frame = pd.DataFrame(rows, columns=["a", "b", "beta", "adf_t", "p"])
    if frame.empty:
        return frame.assign(p_holm=[], selected=[])
    frame["p_holm"] = multipletests(frame["p"].to_numpy(), alpha=alpha, method="holm")[1]
    frame["selected"] = frame["p_holm"] < alpha
    return frame.sort_values(["p", "a", "b"], kind="stable").reset_index(drop=True)


__all__ = ["coint_pairs", "coint_pvalue"]
