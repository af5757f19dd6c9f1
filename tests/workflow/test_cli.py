"""``quantrl workflow run``: a tiny spec end to end, overrides, and one-line spec errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from quantrl import ConfigError
from quantrl.cli.app import app

runner = CliRunner()

TINY = """
name = "cli-tiny"

[data]
market = "sp500"
start = "2015-09-01"
max_symbols = 20
valid_start = "2016-07-01"
test_start = "2017-01-01"

[features]
formulas = ["Mean($close, 5)/$close", "Std($close, 20)/$close", "Corr($close, Log($volume+1), 10)"]
names = ["MA5", "STD20", "CORR10"]

[label]
horizon = 5

[model]
kind = "linear"

[strategy]
topk = 5
n_drop = 1

[output]
dir = "out"
"""


def test_workflow_run_writes_outputs(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    result = runner.invoke(
        app, ["workflow", "run", str(spec), "--quiet", "--seed", "3"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"  # relative to the spec file
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["features"]["names"] == ["MA5", "STD20", "CORR10"]
    assert metrics["spec"]["model"]["seed"] == 3
    assert f"{metrics['ic']['test']['ic']:.4f}" in result.output
    html = (out / "report.html").read_text()
    assert "Signal by split" in html and html.count("<img") >= 4
    assert (out / "predictions.parquet").exists() and (out / "backtest.csv").exists()
    # --out overrides the folder
    other = tmp_path / "elsewhere"
    args = ["workflow", "run", str(spec), "--quiet", "--out", str(other), "--no-report"]
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert (other / "metrics.json").exists() and not (other / "report.html").exists()


def test_workflow_spec_errors_are_config_errors(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(TINY.replace("topk = 5", "topk = 5\ntop_n = 3"))
    result = runner.invoke(app, ["workflow", "run", str(spec)])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "[strategy] unknown key 'top_n'" in str(result.exception)
