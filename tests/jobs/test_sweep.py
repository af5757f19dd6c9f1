"""Strategy sweeps: every grid point equals a direct backtest; ledger, registry and report written."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantrl.backtest.compare import run_strategy
from quantrl.cli.app import app
from quantrl.data import load_market
from quantrl.data.splits import market_split
from quantrl.errors import ConfigError
from quantrl.executors import LocalExecutor
from quantrl.jobs.store import Registry
from quantrl.jobs.sweep import grid_points, load_sweep, run_sweep
from quantrl.stats.performance import deflated_sharpe_ratio
from strategies import get_strategy

SPEC = """
[sweep]
name = "mom"
kind = "strategy"
market = "dow30"
split = "test"
fees = 0.002
executor = "local"
workers = 2

[grid]
strategy = ["momentum"]
lookback = [60, 126]
quantile = [0.2, 0.3]
"""


def test_grid_points_are_every_combination_in_order() -> None:
    points = grid_points({"a": (1, 2), "b": ("x", "y", "z")})
    assert points[:3] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"}]
    assert len(points) == 6


def test_strategy_sweep_equals_direct_backtests(tmp_path: Path) -> None:
    path = tmp_path / "mom.toml"
    path.write_text(SPEC)
    result = run_sweep(path, LocalExecutor(2), strategy_factory=get_strategy)
    assert len(result.rows) == 4
    # as quantrl compare does: a year of history (at least the lookback) before the split
    test = market_split(load_market("dow30"), "test", warmup=252)
    spec = load_sweep(path)
    trials = Registry(spec.registry).trial_set("dow30", "test")
    assert result.trials == trials and trials.n_trials == 4 and result.study == "dow30"
    for row in result.rows:
        p = row["params"]
        strat = get_strategy("momentum", lookback=p["lookback"], quantile=p["quantile"])
        direct = run_strategy(strat, test, fees=0.002)
        stats = direct.stats()
        assert row["metrics"]["sharpe_ratio"] == pytest.approx(stats["Sharpe ratio"], rel=1e-12)
        assert row["metrics"]["total_return"] == pytest.approx(stats["Total return"], rel=1e-12)
        dsr = float(deflated_sharpe_ratio(direct.returns, trials))
        assert row["metrics"]["deflated_sharpe_ratio"] == pytest.approx(dsr, rel=1e-12)
    sharpes = [r["metrics"]["sharpe_ratio"] for r in result.rows]
    assert sharpes == sorted(sharpes, reverse=True)
    ledger = Registry(spec.registry).trials("dow30", "test")
    assert [r["kind"] for r in ledger] == ["sweep"] * 4
    assert {r["params"]["lookback"] for r in ledger} == {60, 126}
    assert all(r["params"]["history"] == 252 and r["n_obs"] > 500 for r in ledger)
    stored = Registry(spec.registry).sweep_results("mom")
    assert len(stored) == 4
    assert {tuple(sorted(s["params"].items())) for s in stored} == {
        tuple(sorted(r["params"].items())) for r in result.rows
    }
    page = (spec.output_dir / "report.html").read_text()
    assert "lookback=126" in page and "data:image/png;base64," in page
    assert "Deflated Sharpe ratio over 4 trial(s) of study" in page


def test_same_results_in_process_and_in_workers(tmp_path: Path) -> None:
    path = tmp_path / "mom.toml"
    path.write_text(SPEC)
    a = run_sweep(path, LocalExecutor(1), strategy_factory=get_strategy)
    b = run_sweep(path, LocalExecutor(2), strategy_factory=get_strategy)
    assert [r["params"] for r in a.rows] == [r["params"] for r in b.rows]
    for x, y in zip(a.rows, b.rows, strict=True):
        for k, v in x["metrics"].items():
            assert (math.isnan(v) and math.isnan(y["metrics"][k])) or v == y["metrics"][k]


def test_cli_prints_the_ranked_table(tmp_path: Path) -> None:
    path = tmp_path / "mom.toml"
    path.write_text(SPEC.replace("workers = 2", "workers = 1"))
    out = CliRunner().invoke(app, ["sweep", str(path), "--top", "2"])
    assert out.exit_code == 0, out.output
    assert "sweep mom on the test split" in out.output and "report:" in out.output
    assert "DSR over 4 trial(s) of study 'dow30' on the test split" in out.output


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"sweep": {"name": "x", "kind": "bogus"}, "grid": {"strategy": ["momentum"]}}, "kind"),
        ({"sweep": {"name": "x"}, "grid": {}}, "at least one"),
        ({"sweep": {"name": "x"}, "grid": {"lookback": [5]}}, "strategy = "),
        ({"sweep": {"name": "x", "metric": "alpha"}, "grid": {"strategy": ["a"]}}, "metric"),
        ({"sweep": {"name": "x", "workers": 0}, "grid": {"strategy": ["a"]}}, "workers"),
        ({"sweep": {"name": "x", "colour": 1}, "grid": {"strategy": ["a"]}}, "unknown key"),
    ],
)
def test_bad_specs_name_the_problem(patch: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_sweep(patch)


def test_unknown_strategy_fails_with_the_task(tmp_path: Path) -> None:
    spec = load_sweep(
        {"sweep": {"name": "bad", "output_dir": str(tmp_path)}, "grid": {"strategy": ["nope"]}}
    )
    with pytest.raises(Exception, match="unknown strategy 'nope'"):
        run_sweep(spec, LocalExecutor(1), strategy_factory=get_strategy)


@pytest.mark.slow
def test_agent_sweep_trains_and_backtests_each_point(tmp_path: Path) -> None:
    spec = load_sweep(
        {
            "sweep": {
                "name": "agents",
                "kind": "agent",
                "split": "valid",
                "output_dir": str(tmp_path),
            },
            "grid": {"algo": ["a2c"], "learning_rate": [7e-4, 1e-3]},
            "agent": {"env": "quantrl/Portfolio-v0", "timesteps": 200},
        }
    )
    result = run_sweep(spec, LocalExecutor(1), strategy_factory=get_strategy)
    assert [sorted(r["params"]) for r in result.rows] == [["algo", "learning_rate"]] * 2
    assert all(math.isfinite(r["metrics"]["total_return"]) for r in result.rows)
    assert len(Registry(spec.registry).sweep_results("agents")) == 2


@pytest.mark.parametrize("name", ["momentum_grid.toml", "ppo_learning_rate.toml"])
def test_example_specs_parse(name: str) -> None:
    root = Path(__file__).resolve().parents[2]
    spec = load_sweep(root / "examples" / "sweeps" / name)
    assert len(grid_points(spec.grid)) >= 6


def test_default_split_is_validation_and_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "mom.toml"
    path.write_text(SPEC.replace('split = "test"\n', "").replace("[60, 126]", "[60]"))
    spec = load_sweep(path)
    assert spec.split == "valid"
    result = run_sweep(spec, LocalExecutor(1), strategy_factory=get_strategy)
    assert result.split == "valid"
    valid = market_split(load_market("dow30"), "valid", warmup=252)
    for row in result.rows:
        p = row["params"]
        strat = get_strategy("momentum", lookback=p["lookback"], quantile=p["quantile"])
        stats = run_strategy(strat, valid, fees=0.002).stats()
        assert row["metrics"]["sharpe_ratio"] == pytest.approx(stats["Sharpe ratio"], rel=1e-12)
    sharpes = [r["metrics"]["sharpe_ratio"] for r in result.rows]
    assert sharpes == sorted(sharpes, reverse=True)
    page = result.report.read_text()
    assert "on the valid split" in page
    out = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["sweep", str(path), "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert "sweep mom on the valid split" in out.output
    assert "ranked on the valid split" in out.output


def test_spec_split_dates_warmup_and_study(tmp_path: Path) -> None:
    extra = 'study = "mine"\nvalid_start = 2016-01-01\ntest_start = 2017-01-01\nwarmup = 100\n'
    path = tmp_path / "mom.toml"
    path.write_text(SPEC.replace('split = "test"\n', extra).replace("[60, 126]", "[60]"))
    spec = load_sweep(path)
    assert (spec.study, spec.valid_start, spec.test_start, spec.warmup) == (
        "mine",
        "2016-01-01",
        "2017-01-01",
        100,
    )
    result = run_sweep(spec, LocalExecutor(1), strategy_factory=get_strategy)
    valid = market_split(load_market("dow30"), "valid", valid_start="2016-01-01",
                         test_start="2017-01-01", warmup=100)  # fmt: skip
    for row in result.rows:
        strat = get_strategy("momentum", lookback=60, quantile=row["params"]["quantile"])
        direct = run_strategy(strat, valid, fees=0.002)
        assert row["metrics"]["total_return"] == pytest.approx(direct.total_return, rel=1e-12)
    rows = Registry(spec.registry).trials("mine", "valid")
    assert len(rows) == 2 and all(r["params"]["history"] == 100 for r in rows)
    with pytest.raises(ConfigError, match="both valid_start and test_start"):
        load_sweep(
            {"sweep": {"name": "x", "valid_start": "2016-01-01"}, "grid": {"strategy": ["a"]}}
        )
