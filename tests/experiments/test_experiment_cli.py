"""``quantrl experiment`` sub-app and the registry."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from quantrl.cli.experiment import experiment_app
from quantrl.errors import ConfigError
from quantrl.experiments import Experiment, get_experiment, list_experiments


def test_registry_lists_and_builds_experiments() -> None:
    names = list_experiments()
    assert "market_impact" in names and "sharpe_portfolio" in names
    for name in names:
        exp = get_experiment(name)
        assert isinstance(exp, Experiment)
        assert exp.name == name
    with pytest.raises(ConfigError, match="unknown experiment 'nope'"):
        get_experiment("nope")


def test_cli_list_and_fast_run(tmp_path) -> None:
    runner = CliRunner()
    listed = runner.invoke(experiment_app, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "market_impact" in listed.output
    out = tmp_path / "mi"
    res = runner.invoke(experiment_app, ["run", "market_impact", "--fast", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "calibrated" in res.output
    table = pd.read_csv(out / "results.csv", index_col=[0, 1])
    assert len(table) == 12 * 2  # two seeds in a fast run
    verdicts = pd.read_csv(out / "table.csv", index_col=0)
    assert list(verdicts.index) == [c.key for c in get_experiment("market_impact").claims]
    assert "verdicts" in res.output
    assert (out / "report.html").read_text().count("Kyle lambda") >= 2
