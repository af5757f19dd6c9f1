"""The evaluation protocol on the command line: validation by default, the test split on purpose
and recorded, history before every split, split flags for data files, honest data, help text."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import quantrl
from quantrl.cli import alpha as alpha_cli
from quantrl.cli import backtest as backtest_cli
from quantrl.cli import mine as mine_cli
from quantrl.cli import train as train_cli
from quantrl.cli.app import app
from quantrl.errors import ConfigError
from quantrl.jobs.ledger import evaluate_strategies
from quantrl.jobs.store import Registry
from quantrl.jobs.sweep import SweepTable
from strategies import get_strategy

ROOT = Path(__file__).resolve().parents[2]
ENV = {"COLUMNS": "250"}
runner = CliRunner()


def _default(fn, name: str):
    return inspect.signature(fn).parameters[name].default


def _cells(output: str, statistic: str) -> list[str]:
    for line in output.splitlines():
        parts = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if parts and parts[0] == statistic:
            return parts[1:]
    raise AssertionError(f"no row {statistic!r} in\n{output}")


def test_every_ranking_tool_defaults_to_the_validation_split():
    assert _default(backtest_cli.backtest_command, "split") == "valid"
    assert _default(backtest_cli.compare_command, "split") == "valid"
    assert _default(train_cli.eval_command, "split") == "valid"
    assert _default(alpha_cli.eval_command, "split") == "valid"
    assert _default(mine_cli.alpha_top_command, "split") == "valid"
    assert SweepTable(name="x").split == "valid"
    assert _default(evaluate_strategies, "split") == "valid"


def test_backtest_and_compare_share_their_defaults():
    shared = ("market", "split", "valid_start", "test_start", "warmup", "fees", "slippage")
    for name in (*shared, "execution", "study", "registry", "start", "end"):
        b = inspect.signature(backtest_cli.backtest_command).parameters[name]
        c = inspect.signature(backtest_cli.compare_command).parameters[name]
        assert b.default == c.default and b.annotation == c.annotation, name
    assert _default(backtest_cli.compare_command, "fees") == backtest_cli.DEFAULT_FEES == 0.001
    assert _default(backtest_cli.backtest_command, "slippage") == backtest_cli.DEFAULT_SLIPPAGE


def test_compare_on_valid_by_default_prints_the_split_and_the_trials(tmp_path):
    reg = tmp_path / "r.sqlite"
    out = runner.invoke(
        app, ["compare", "equal_weight", "momentum", "--registry", str(reg)], env=ENV
    )
    assert out.exit_code == 0, out.output
    assert "comparison: dow30 valid split 2019-01-02 .. 2020-12-31" in out.output
    assert "Deflated Sharpe ratio over 2 trial(s) of study 'dow30' on the valid split" in out.output
    assert _cells(out.output, "Trials (DSR)") == ["2", "2"]
    assert "Test split used" not in out.output
    assert [r["split"] for r in Registry(reg).trials("dow30")] == ["valid", "valid"]


def test_compare_on_test_uses_history_equals_python_and_is_recorded(dow30, tmp_path):
    names = ["equal_weight", "momentum", "min_variance"]
    args = ["compare", *names, "--split", "test", "--study", "s", "--registry"]
    out = runner.invoke(app, [*args, str(tmp_path / "cli.sqlite")], env=ENV)
    assert out.exit_code == 0, out.output
    line = "Test split used on purpose: study 's' has recorded 3 test-split evaluation(s) so far"
    assert line in out.output
    assert "History rows before the split: 252 (2020-01-03 .. 2020-12-31)" in out.output
    py = evaluate_strategies(
        {n: get_strategy(n) for n in names},
        dow30,
        split="test",
        study="s",
        registry=tmp_path / "py.sqlite",
    )
    table = py.stats()
    for stat in ("Total return", "Sharpe ratio", "Deflated Sharpe ratio", "Max drawdown"):
        assert _cells(out.output, stat) == [f"{v:.4f}" for v in table.loc[stat, names]], stat
    mom = py.results["momentum"]
    assert str(mom.dates[0])[:10] == "2021-01-04"
    first_month = np.abs(np.nan_to_num(mom.weights[:21])).sum(axis=1)
    assert (first_month[1:] > 0.99).all()  # traded from the split's second day, not a year later
    again = runner.invoke(app, [*args, str(tmp_path / "cli.sqlite")], env=ENV)
    assert "has recorded 6 test-split evaluation(s)" in again.output
    assert Registry(tmp_path / "cli.sqlite").trial_set("s", "test").n_trials == 3


def test_notebook_01_gives_the_cli_figures(dow30, tmp_path):
    nb = json.loads((ROOT / "notebooks" / "01_data_and_backtesting.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "evaluate_strategies(" in code and 'split="test"' in code
    assert "market_split(" not in code  # no hand-rolled history
    names = ast.literal_eval(re.search(r"^names = (\[.*\])$", code, re.M).group(1))
    nb_eval = evaluate_strategies(
        {n: get_strategy(n) for n in names},
        dow30,
        split="test",
        fees=0.001,
        registry=tmp_path / "nb.sqlite",
    )
    out = runner.invoke(
        app,
        ["compare", *names, "--split", "test", "--registry", str(tmp_path / "c.sqlite")],
        env=ENV,
    )
    assert out.exit_code == 0, out.output
    table = nb_eval.stats()
    for stat in ("Total return", "CAGR", "Sharpe ratio", "Deflated Sharpe ratio"):
        assert _cells(out.output, stat) == [f"{v:.4f}" for v in table.loc[stat, names]], stat


@pytest.fixture(scope="module")
def market_file(tmp_path_factory, dow30):
    """A data file the library has no default split dates for."""
    path = tmp_path_factory.mktemp("file") / "mine.csv"
    dow30.select(["AAPL", "MSFT", "KO", "JPM", "CVX"]).to_polars("long").write_csv(path)
    return path


def test_a_data_file_market_takes_split_flags(market_file, tmp_path):
    reg = str(tmp_path / "r.sqlite")
    base = ["backtest", "equal_weight", "--market", str(market_file), "--registry", reg]
    refused = runner.invoke(app, base, env=ENV)
    assert refused.exit_code != 0
    assert isinstance(refused.exception, ConfigError)
    assert "--valid-start DATE --test-start DATE" in str(refused.exception)
    dates = ["--valid-start", "2018-01-01", "--test-start", "2019-01-01"]
    ok = runner.invoke(app, [*base, *dates], env=ENV)
    assert ok.exit_code == 0, ok.output
    flat = " ".join(ok.output.split())  # table titles wrap with the path's length
    assert "valid split 2018-01-02 .. 2018-12-31" in flat
    assert "History rows before the split: 252" in flat
    short = runner.invoke(app, [*base, *dates, "--warmup", "30"], env=ENV)
    assert short.exit_code == 0, short.output
    assert "History rows before the split: 30 (2017-11-16 .. 2017-12-29)" in " ".join(
        short.output.split()
    )
    compared = runner.invoke(
        app,
        ["compare", "equal_weight", "risk_parity", "--market", str(market_file), *dates,
         "--split", "test", "--registry", reg],
        env=ENV,
    )  # fmt: skip
    assert compared.exit_code == 0, compared.output
    assert "test split 2019-01-02 .. 2023-12-29" in " ".join(compared.output.split())
    alpha = runner.invoke(
        app,
        ["alpha", "eval", "Mean($close, 5) / $close", "--market", str(market_file), *dates,
         "--warmup", "40", "--registry", reg],
        env=ENV,
    )  # fmt: skip
    assert alpha.exit_code == 0, alpha.output
    assert "History rows before the split: 40" in alpha.output
    kinds = [(r["kind"], r["split"]) for r in Registry(reg).trials("mine")]
    assert kinds == [("strategy", "valid")] * 2 + [("strategy", "test")] * 2 + [("alpha", "valid")]


def test_the_tear_sheet_says_history_bias_and_trials(tmp_path):
    report = tmp_path / "r.html"
    out = runner.invoke(
        app,
        ["backtest", "momentum", "--market", "sp500", "--report", str(report), "--registry",
         str(tmp_path / "r.sqlite")],
        env=ENV,
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "note: Survivorship bias (sp500): constituents as of early 2018" in out.output
    page = report.read_text()
    assert "History rows before the split: 252" in page
    assert "Survivorship bias (sp500): constituents as of early 2018" in page
    assert "Deflated Sharpe ratio over 1 trial(s) of study" in page


def test_version():
    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"quantrl {quantrl.__version__}"


def _commands(group, path: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*path, name), cmd
        if hasattr(cmd, "commands"):  # a group (typer bundles its own click)
            yield from _commands(cmd, (*path, name))


def test_every_help_renders_with_its_brackets():
    root = typer.main.get_command(app)
    seen = 0
    for path, cmd in _commands(root):
        out = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert out.exit_code == 0, (path, out.output)
        flat = " ".join(out.output.split())
        for token in re.findall(r"\[[a-z_]+\]", cmd.help or ""):
            assert token in flat, (path, token)
        seen += 1
    assert seen >= 15
    mine = runner.invoke(app, ["mine", "--help"], env={"COLUMNS": "100"})
    assert "a [distributed] table" in " ".join(mine.output.split())


def test_data_info_and_meta_say_survivorship(dow30):
    assert dow30.meta["survivorship_biased"] is True
    assert "DJIA members from Aug 2020 to Feb 2024" in dow30.meta["survivorship_note"]
    sp = quantrl.load_market("sp500")
    assert sp.meta["survivorship_biased"] is True
    assert sp.meta["survivorship_note"].startswith("constituents as of early 2018")
    assert quantrl.load_market("djia").meta["survivorship_biased"] is False
    info = runner.invoke(app, ["data", "info", "sp500"], env=ENV)
    assert info.exit_code == 0, info.output
    assert "survivorship bias: constituents as of early 2018" in info.output
    djia = runner.invoke(app, ["data", "info", "djia"], env=ENV)
    assert "survivorship bias: none known" in djia.output
    listed = runner.invoke(app, ["data", "list"], env=ENV)
    assert "survivorship bias" in listed.output
    assert re.search(r"dow30 .*│ yes", listed.output) and re.search(r"djia .*│ no", listed.output)


@pytest.mark.slow
def test_train_and_eval_on_a_data_file_with_split_flags(market_file, tmp_path):
    reg = str(tmp_path / "r.sqlite")
    out = tmp_path / "run"
    dates = ["--valid-start", "2018-01-01", "--test-start", "2019-01-01"]
    trained = runner.invoke(
        app,
        ["train", "quantrl/Portfolio-v0", "--algo", "a2c", "--timesteps", "64", "--market",
         str(market_file), "--out", str(out), "--no-progress", *dates],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert json.loads((out / "meta.json").read_text())["split_dates"] == [
        "2018-01-01",
        "2019-01-01",
    ]
    file = ["--market", str(market_file), "--registry", reg]
    ev = runner.invoke(app, ["eval", str(out), *file, *dates], env=ENV)
    assert ev.exit_code == 0, ev.output
    assert "valid split 2018-" in ev.output and "Deflated Sharpe ratio over 1 trial(s)" in ev.output
    (row,) = Registry(reg).trials("mine")  # the file's stem, as for strategies
    assert row["kind"] == "agent" and row["split"] == "valid"
    moved = runner.invoke(
        app, ["eval", str(out), *file, "--valid-start", "2017-01-01", "--test-start", "2019-01-01"]
    )
    assert moved.exit_code != 0 and "would mix its training data" in str(moved.exception)
    tested = runner.invoke(app, ["eval", str(out), "--split", "test", *file], env=ENV)
    assert tested.exit_code == 0, tested.output
    assert "has recorded 1 test-split evaluation(s)" in tested.output
