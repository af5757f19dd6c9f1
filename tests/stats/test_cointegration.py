"""Cointegration p-values of every pair and the Holm correction over the pairs tried."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from quantrl.data.panel import Panel
from quantrl.stats.cointegration import coint_pairs, coint_pvalue


def _panel(seed: int = 0, n: int = 800) -> Panel:
    """Four series: A and B share a random-walk trend (cointegrated), C and D are free walks."""
    rng = np.random.default_rng(seed)
    trend = rng.normal(0, 0.01, n).cumsum()
    cols = {
        "A": 4.0 + trend + rng.normal(0, 0.002, n),
        "B": 3.0 + 0.8 * trend + rng.normal(0, 0.002, n),
        "C": 5.0 + rng.normal(0, 0.01, n).cumsum(),
        "D": 2.0 + rng.normal(0, 0.01, n).cumsum(),
    }
    close = np.exp(np.column_stack(list(cols.values())))
    dates = np.datetime64("2023-03-01T00:00") + np.arange(n).astype("timedelta64[m]")
    fields = {k: close for k in ("open", "high", "low", "close")}
    fields["volume"] = np.ones_like(close)
    return Panel(dates, tuple(cols), fields)


def _adf_t(e: np.ndarray, lags: int) -> float:
    """Reference: t of rho in de_t = rho e_{t-1} + sum_i phi_i de_{t-i} (no constant), numpy."""
    de = np.diff(e)
    y = de[lags:]
    x = np.column_stack([e[lags:-1]] + [de[lags - i : de.size - i] for i in range(1, lags + 1)])
    coef = np.linalg.solve(x.T @ x, x.T @ y)
    res = y - x @ coef
    s2 = (res @ res) / (y.size - x.shape[1])
    return float(coef[0] / np.sqrt(s2 * np.linalg.inv(x.T @ x)[0, 0]))


def _engle_granger_t(log_a: np.ndarray, log_b: np.ndarray, lags: int) -> float:
    """Reference: OLS residual of log a on (1, log b), then its ADF t."""
    slope, intercept = np.polyfit(log_b, log_a, 1)
    return _adf_t(log_a - intercept - slope * log_b, lags)


def test_reference_adf_matches_the_closed_form_without_lags() -> None:
    rng = np.random.default_rng(1)
    e = np.zeros(400)
    for t in range(1, 400):
        e[t] = 0.8 * e[t - 1] + rng.normal()
    de, lag = np.diff(e), e[:-1]
    rho = (lag @ de) / (lag @ lag)
    s2 = ((de - rho * lag) @ (de - rho * lag)) / (de.size - 1)
    assert _adf_t(e, 0) == pytest.approx(rho / np.sqrt(s2 / (lag @ lag)), rel=1e-10)


def test_coint_statistic_equals_the_numpy_engle_granger() -> None:
    panel = _panel()
    logc = np.log(panel["close"])
    stat, p = coint_pvalue(logc[:, 0], logc[:, 1], maxlag=1, autolag=None)
    assert stat == pytest.approx(_engle_granger_t(logc[:, 0], logc[:, 1], 1), rel=1e-8)
    stat0, _ = coint_pvalue(logc[:, 0], logc[:, 1], maxlag=0, autolag=None)
    assert stat0 == pytest.approx(_engle_granger_t(logc[:, 0], logc[:, 1], 0), rel=1e-8)
    assert p < 1e-3
    assert coint_pvalue(logc[:, 2], logc[:, 3])[1] > 0.05


def test_holm_adjustment_by_hand_and_selection() -> None:
    frame = coint_pairs(_panel(), alpha=0.05)
    assert len(frame) == 6 and frame["p"].is_monotonic_increasing
    p = frame["p"].to_numpy()
    m = p.size
    holm = np.minimum(np.maximum.accumulate(p * (m - np.arange(m))), 1.0)
    np.testing.assert_allclose(frame["p_holm"], holm, rtol=1e-12)
    assert (frame.iloc[0]["a"], frame.iloc[0]["b"]) == ("A", "B")
    assert frame["selected"].tolist() == (holm < 0.05).tolist()
    assert (
        bool(frame.iloc[0]["selected"])
        and not frame.loc[(frame["a"] == "C") & (frame["b"] == "D"), "selected"].any()
    )
    logc = np.log(_panel()["close"])
    assert frame.iloc[0]["beta"] == pytest.approx(stats.linregress(logc[:, 1], logc[:, 0]).slope)
    assert frame.iloc[0]["beta"] == pytest.approx(1.25, rel=0.05)  # log A = c + log B / 0.8
