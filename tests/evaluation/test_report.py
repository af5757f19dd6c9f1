"""The HTML tear sheet: self-contained, every figure present, renders in headless Chromium."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from quantrl.backtest import run_weights
from quantrl.evaluation.report import monthly_returns, rolling_sharpe, write_report

FIGURES = ("equity", "drawdown", "rolling_sharpe", "weights", "monthly_returns")


@pytest.fixture(scope="module")
def results(dow30):
    panel = dow30.slice("2020-01-01", "2021-12-31").select(["AAPL", "MSFT", "KO", "JPM"])
    n = panel.n_dates
    ew = np.full(panel.shape, 0.25)
    tilt = np.tile([0.4, 0.4, 0.1, 0.1], (n, 1))
    bench = panel["close"].mean(axis=1)
    return {
        "equal": run_weights(panel, ew, benchmark=bench),
        "tilt": run_weights(panel, tilt, benchmark=bench),
    }


def test_monthly_returns_compound_daily_returns(results):
    res = results["equal"]
    table = monthly_returns(res)
    rets = pd.Series(res.returns, index=pd.DatetimeIndex(res.dates))
    march = rets["2020-03"]
    assert table.loc[2020, 3] == pytest.approx(np.prod(1 + march) - 1, rel=1e-12)
    assert table.shape == (2, 12)


def test_rolling_sharpe_matches_pandas(results):
    res = results["tilt"]
    s = rolling_sharpe(res, 20)
    r = pd.Series(res.returns)
    ref = r.rolling(20).mean() / r.rolling(20).std() * np.sqrt(252)
    np.testing.assert_allclose(s.to_numpy(), ref.to_numpy(), rtol=1e-10)


def test_report_is_self_contained_with_every_figure(results, tmp_path):
    out = write_report(results, tmp_path / "r.html", png_dir=tmp_path / "png")
    text = out.read_text()
    for name in FIGURES:
        assert f"id='fig-{name}'" in text
        assert (tmp_path / "png" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) == len(FIGURES)
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert "Deflated Sharpe ratio" in text and "<table" in text
    assert "http://" not in text and "https://" not in text  # opens offline


def test_report_renders_in_headless_chromium(results, tmp_path, headless_chromium):
    import matplotlib.image as mpimg

    out = write_report(results, tmp_path / "r.html")
    shot, dom = headless_chromium(out.as_uri(), height=3200)
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[0] >= 3000
    colored = np.abs(pixels - pixels.mean(axis=-1, keepdims=True)).max(axis=-1) > 0.15
    rows_with_color = np.flatnonzero(colored.any(axis=1))
    # figures draw coloured lines from the top of the page down through the heatmap at the end
    assert colored.mean() > 0.01
    assert rows_with_color.max() - rows_with_color.min() > 1500
    assert dom.count("<img") == len(FIGURES) and "Sharpe ratio" in dom
