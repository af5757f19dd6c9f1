"""HTML reports: the tear sheet (self-contained, every figure, renders in headless Chromium) and
the template renderer (tables, notes, figures, escaping)."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from quantrl.backtest import run_weights
from quantrl.errors import ConfigError
from quantrl.evaluation.report import (
    ReportFigure,
    ReportNotes,
    ReportTable,
    monthly_returns,
    render_html,
    render_report,
    rolling_sharpe,
    write_report,
)

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


EVIL = "<script>alert(1)</script>"


def test_tear_sheet_escapes_strategy_names_and_lists_tables_notes_figures(results, tmp_path):
    mapping = {EVIL: results["equal"], "tilt": results["tilt"]}
    extra = pd.DataFrame({"formula": [f"rank({EVIL})"], "ic": [0.0123]}, index=["alpha 1"])
    extra.index.name = "factor"
    out = write_report(
        mapping, tmp_path / "r.html", title=EVIL, extra_tables={"Pool": extra}, notes=[EVIL]
    )
    text = out.read_text()
    assert "<script" not in text
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # the title (twice), the stats column, the formula cell and the note
    assert text.count(escaped) == 5
    assert f"<th>{escaped}</th>" in text and f"<td>rank({escaped})</td>" in text
    assert "<td>0.0123</td>" in text and f"<li>{escaped}</li>" in text
    order = [text.index(s) for s in ("<h2>Statistics", "<h2>Pool", "<h2>Notes", "id='fig-")]
    assert order == sorted(order)
    for name in FIGURES:  # every figure is linked from the contents
        assert f"href='#fig-{name}'" in text


def test_render_report_tables_from_frames_and_rows(tmp_path):
    frame = pd.DataFrame(
        {"value": [1.5, np.nan, 12345.0, 123456.7], "label": ["a", "b", "c", None]},
        index=pd.Index(["x", "y", "z", "w"], name="key"),
    )
    rows = [{"parameters": "a=1", "score": 0.5}, {"parameters": "<b>", "other": 3}]
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    out = render_report(
        tmp_path / "page.html",
        "page",
        [
            ReportTable("Frame", frame),
            ReportTable("Rows", rows),
            ReportNotes("Notes", ["first", "second"]),
            ReportFigure("line_plot", fig),
        ],
        subtitle="sub",
        png_dir=tmp_path / "png",
    )
    text = out.read_text()
    assert "<thead><tr><th>key</th><th>value</th><th>label</th></tr></thead>" in text
    assert "<tr><td>x</td><td>1.5000</td><td>a</td></tr>" in text
    assert "<tr><td>y</td><td>–</td><td>b</td></tr>" in text
    assert "<tr><td>z</td><td>12,345</td><td>c</td></tr>" in text
    assert "<tr><td>w</td><td>123,457</td><td>–</td></tr>" in text
    # rows of mappings: columns in first-seen order, missing cells shown as '–'
    assert "<th>parameters</th><th>score</th><th>other</th>" in text
    assert "<tr><td>&lt;b&gt;</td><td>–</td><td>3</td></tr>" in text
    assert "<li>first</li>" in text and "<li>second</li>" in text
    assert '<p class="meta">sub · generated ' in text
    assert "id='fig-line_plot'" in text and "<figcaption>line plot</figcaption>" in text
    (encoded,) = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    png = (tmp_path / "png" / "line_plot.png").read_bytes()
    assert base64.b64decode(encoded) == png and png[:4] == b"\x89PNG"


def test_bad_sections_and_templates_are_refused(tmp_path):
    fig = Figure()
    with pytest.raises(ConfigError, match="figure name '../x'"):
        render_html("t", [ReportFigure("../x", fig)])
    with pytest.raises(ConfigError, match="unknown report template 'nope'"):
        render_html("t", [], template="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="table, figure or notes"):
        render_html("t", ["text"])  # type: ignore[list-item]
