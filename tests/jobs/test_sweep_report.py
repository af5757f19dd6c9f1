"""The sweep report: one figure and one table from the template, names and parameters escaped."""

from __future__ import annotations

import base64
import math
import re

from quantrl.jobs.sweep import METRICS, SweepResult, write_sweep_report

EVIL = "<script>alert(1)</script>"


def test_sweep_report_has_the_chart_and_every_row_escaped(tmp_path):
    rows = [
        {"params": {"strategy": EVIL, "lookback": 60}, "metrics": {"sharpe_ratio": 1.25}},
        {
            "params": {"strategy": "momentum", "lookback": 126},
            "metrics": dict.fromkeys(METRICS, 0.5) | {"sharpe_ratio": math.nan},
        },
    ]
    out = write_sweep_report(SweepResult(EVIL, "sharpe_ratio", rows), tmp_path / "s" / "r.html")
    text = out.read_text()
    assert "<script" not in text
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"<h1>sweep {escaped}</h1>" in text
    assert (
        '<p class="meta">2 combinations, ranked by sharpe_ratio on the valid split · generated'
        in text
    )
    assert "<th>parameters</th>" + "".join(f"<th>{c}</th>" for c in METRICS) in text
    missing = "<td>–</td>" * (list(METRICS).index("sharpe_ratio"))
    assert f"<tr><td>strategy={escaped}, lookback=60</td>{missing}<td>1.2500</td>" in text
    cells = ["0.5000" if c != "sharpe_ratio" else "–" for c in METRICS]
    row = "".join(f"<td>{c}</td>" for c in cells)
    assert f"<tr><td>strategy=momentum, lookback=126</td>{row}</tr>" in text
    (image,) = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert base64.b64decode(image)[:4] == b"\x89PNG"
