"""`quantrl backtest` and `quantrl compare` call the library and write a report."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import quantrl
from quantrl.backtest.compare import run_strategy
from quantrl.cli.app import app
from quantrl.cli.backtest import parse_params
from quantrl.data.splits import market_split
from strategies import get_strategy

runner = CliRunner()


def test_backtest_equal_weight_writes_report(tmp_path):
    report = tmp_path / "r.html"
    result = runner.invoke(
        app,
        [
            "backtest",
            "equal_weight",
            "--market",
            "dow30",
            "--split",
            "test",
            "--report",
            str(report),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert report.exists() and report.read_text().count("<img") >= 5
    # the printed total return is the library's: the test split with a year of history before it
    panel = market_split(quantrl.load_market("dow30"), "test", warmup=252)
    expected = run_strategy(get_strategy("equal_weight"), panel).total_return
    assert f"{expected:.4f}" in result.output


def test_backtest_user_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(
        "import numpy as np\n"
        "class Half:\n"
        "    name = 'half'\n"
        "    def target_weights(self, panel):\n"
        "        return np.full(panel.shape, 0.5 / panel.n_symbols)\n"
    )
    result = runner.invoke(app, ["backtest", str(path), "--split", "valid"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "mine" in result.output


def test_compare_prints_each_strategy():
    result = runner.invoke(
        app, ["compare", "equal_weight", "momentum", "--split", "valid"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "equal_weight" in result.output and "momentum" in result.output


def test_params_parse_without_eval():
    assert parse_params(["window=60", "k=1.5", "long_short=true", "formula=Mean($close,5)"]) == {
        "window": 60,
        "k": 1.5,
        "long_short": True,
        "formula": "Mean($close,5)",
    }
    with pytest.raises(quantrl.ConfigError):
        parse_params(["oops"])


def test_unknown_strategy_fails_cleanly():
    result = runner.invoke(app, ["backtest", "nope"])
    assert result.exit_code != 0
    assert "unknown strategy" in str(result.exception)


def test_split_segments_do_not_overlap():
    panel = quantrl.load_market("dow30")
    train, valid, test = (market_split(panel, s) for s in ("train", "valid", "test"))
    assert train.dates[-1] < valid.dates[0] and valid.dates[-1] < test.dates[0]
    assert np.datetime64("2021-01-01") <= test.dates[0]


def test_backtest_no_cache_with_an_unusable_cache_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = {"COLUMNS": "200", "QUANTRL_CACHE": str(blocker)}
    args = ["backtest", "equal_weight", "--market", "djia", "--split", "test"]
    result = runner.invoke(app, [*args, "--no-cache"], env=env)
    assert result.exit_code == 0, result.output
    panel = market_split(quantrl.load_market("djia"), "test", warmup=252)
    expected = run_strategy(get_strategy("equal_weight"), panel).total_return
    assert f"{expected:.4f}" in result.output
    compared = runner.invoke(
        app, ["compare", "equal_weight", "--market", "djia", "--no-cache"], env=env
    )
    assert compared.exit_code == 0, compared.output
