"""Cointegration p-values of every pair and the Holm correction over the pairs tried."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from quantrl.data.panel import Panel
from quantrl.envs.pairs import engle_granger
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


def test_coint_statistic_equals_the_numpy_engle_granger() -> None:
    panel = _panel()
    logc = np.log(panel["close"])
    stat, p = coint_pvalue(logc[:, 0], logc[:, 1], maxlag=1, autolag=None)
    assert stat == pytest.approx(engle_granger(logc[:, 0], logc[:, 1], lags=1)["adf_t"], rel=1e-8)
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
