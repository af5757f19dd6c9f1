"""The trial ledger: recorded evaluations, per-study trial sets, the DSR they give, the recorders."""

from __future__ import annotations

import io
import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import stats

from quantrl.backtest.compare import run_strategy
from quantrl.data.splits import market_split
from quantrl.errors import ConfigError
from quantrl.experiments import runner as experiment_runner
from quantrl.experiments.registry import ExperimentResult
from quantrl.jobs.ledger import (
    REGISTRY_ENV,
    evaluate_alphas,
    evaluate_strategies,
    open_registry,
    registry_path,
    sharpe_figures,
)
from quantrl.jobs.store import APPLICATION_ID, SCHEMA_VERSION, Registry
from quantrl.stats.performance import TrialSet, deflated_sharpe_ratio
from strategies import get_strategy

EULER = 0.5772156649015329


def _hand_dsr(returns: np.ndarray, n: int, var: float) -> float:
    """Bailey & Lopez de Prado's DSR from scipy moments and the trial count / variance."""
    r = returns[np.isfinite(returns)]
    sr = r.mean() / r.std(ddof=1)
    sr0 = 0.0
    if n > 1:
        sr0 = math.sqrt(var) * (
            (1 - EULER) * stats.norm.ppf(1 - 1 / n) + EULER * stats.norm.ppf(1 - 1 / (n * math.e))
        )
    g3, g4 = stats.skew(r), stats.kurtosis(r, fisher=False)
    z = (sr - sr0) * math.sqrt(r.size - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return float(stats.norm.cdf(z))


def _record(reg: Registry, study: str, name: str, sharpe: float, split: str = "valid") -> None:
    reg.record_trial(
        study, "strategy", name, split=split, params={"p": name}, data_hash="h", sharpe=sharpe
    )


def test_a_v1_registry_gains_the_trials_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE sweeps (id INTEGER PRIMARY KEY AUTOINCREMENT, sweep TEXT NOT NULL, "
                "kind TEXT NOT NULL, split TEXT NOT NULL, params TEXT NOT NULL, "
                "metrics TEXT NOT NULL, created REAL NOT NULL)")  # fmt: skip
    con.execute("INSERT INTO sweeps (sweep, kind, split, params, metrics, created) "
                "VALUES ('s', 'strategy', 'valid', '{}', '{}', 0)")  # fmt: skip
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    reg = Registry(path)
    assert SCHEMA_VERSION == 2 and reg.marks() == (APPLICATION_ID, 2)
    assert reg.trials("any") == [] and reg.trial_set("any") == TrialSet()
    _record(reg, "s1", "a", 0.05)
    assert len(reg.trials("s1")) == 1
    assert len(Registry(path).sweep_results("s")) == 1  # old rows kept


def test_trial_sets_count_per_study_and_split(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    sharpes = [0.04, -0.01, 0.02, 0.07]
    for i, s in enumerate(sharpes):
        _record(reg, "alpha-study", f"s{i}", s)
    _record(reg, "alpha-study", "s0", 0.04)  # the same configuration again: one trial
    _record(reg, "alpha-study", "t0", 0.5, split="test")
    _record(reg, "other", "x", 0.01)
    reg.record_trial("alpha-study", "pool", "job", split="valid", ic=0.05, rank_ic=0.06)
    valid = reg.trial_set("alpha-study", "valid")
    assert valid.n_trials == 4
    assert valid.sharpe_variance == pytest.approx(np.var(sharpes, ddof=1), rel=1e-12)
    assert reg.trial_set("alpha-study").n_trials == 5
    assert reg.trial_set("alpha-study", "test") == TrialSet()
    assert reg.trial_set("other") == TrialSet() and reg.trial_set("empty") == TrialSet()
    assert reg.count_trials("alpha-study") == 7 and reg.count_trials("alpha-study", "test") == 1
    rows = reg.trials("alpha-study", "valid")
    assert [r["kind"] for r in rows][-1] == "pool" and rows[0]["params"] == {"p": "s0"}
    assert math.isnan(rows[-1]["sharpe"]) and rows[-1]["ic"] == pytest.approx(0.05)
    assert reg.studies() == ["alpha-study", "other"]
    # a trial without a finite Sharpe still counts in N; fewer than two finite ones: V = 0
    reg.record_trial("nan", "agent", "a", split="valid", sharpe=float("nan"))
    reg.record_trial("nan", "agent", "b", split="valid", sharpe=0.1)
    assert reg.trial_set("nan") == TrialSet(2, 0.0)
    reg.record_trial("nan", "agent", "c", split="valid", sharpe=0.3)
    assert reg.trial_set("nan") == TrialSet(3, float(np.var([0.1, 0.3], ddof=1)))


def test_record_trial_refuses_bad_input(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    with pytest.raises(ConfigError, match="trial kind"):
        reg.record_trial("s", "guess", "a", split="valid")
    with pytest.raises(ConfigError, match="trial split"):
        reg.record_trial("s", "strategy", "a", split="holdout")
    with pytest.raises(ConfigError, match="study name"):
        reg.record_trial(" ", "strategy", "a", split="valid")


def test_the_dsr_of_one_result_falls_as_its_study_adds_trials(tmp_path: Path, rng) -> None:
    returns = rng.normal(0.0008, 0.01, 600)
    reg = Registry(tmp_path / "r.sqlite")
    own = float(returns.mean() / returns.std(ddof=1))
    _record(reg, "A", "mine", own)
    _record(reg, "B", "mine", own)
    assert float(deflated_sharpe_ratio(returns, reg.trial_set("A"))) == pytest.approx(
        _hand_dsr(returns, 1, 0.0), rel=1e-10
    )
    previous = 1.0
    tried = [own]
    d = 0.02
    for k in range(4):  # pairs own +/- d keep V = d**2 while N grows: 3, 5, 7, 9
        for sign in (1, -1):
            _record(reg, "A", f"other{k}{sign}", own + sign * d)
            tried.append(own + sign * d)
        trials = reg.trial_set("A")
        dsr = float(deflated_sharpe_ratio(returns, trials))
        assert trials.n_trials == len(tried) == 3 + 2 * k
        assert trials.sharpe_variance == pytest.approx(d**2, rel=1e-9)
        assert dsr == pytest.approx(_hand_dsr(returns, len(tried), d**2), rel=1e-9)
        assert dsr < previous
        previous = dsr
    assert reg.trial_set("B") == TrialSet()  # the other study is untouched
    assert float(deflated_sharpe_ratio(returns, reg.trial_set("B"))) > previous


def test_registry_path_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(REGISTRY_ENV, str(tmp_path / "env.sqlite"))
    assert registry_path() == tmp_path / "env.sqlite"
    assert registry_path(tmp_path / "x.sqlite") == tmp_path / "x.sqlite"
    monkeypatch.delenv(REGISTRY_ENV)
    assert registry_path() == Path("runs") / "registry.sqlite"
    reg = Registry(tmp_path / "y.sqlite")
    assert open_registry(reg) is reg


def test_evaluate_strategies_records_and_deflates_over_the_study(dow30, tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    names = ["equal_weight", "momentum", "min_variance"]
    ev = evaluate_strategies({n: get_strategy(n) for n in names}, dow30, registry=reg)
    assert ev.split == "valid" and ev.study == "dow30" and ev.history == 252
    assert ev.panel is not None and str(ev.panel.dates[ev.panel.warmup])[:10] == "2019-01-02"
    assert ev.trials == reg.trial_set("dow30", "valid") and ev.trials.n_trials == 3
    per_period = [sharpe_figures(ev.results[n])[0] for n in names]
    assert ev.trials.sharpe_variance == pytest.approx(np.var(per_period, ddof=1), rel=1e-12)
    table = ev.stats()
    assert (table.loc["Trials (DSR)"] == 3).all()
    for n in names:
        hand = _hand_dsr(ev.results[n].returns, 3, np.var(per_period, ddof=1))
        assert table.loc["Deflated Sharpe ratio", n] == pytest.approx(hand, rel=1e-9)
    assert ev.test_evaluations == 0 and not any("Test split" in s for s in ev.notes)
    assert any(s.startswith("History rows before the split: 252 (") for s in ev.notes)
    assert any(s.startswith("Survivorship bias (dow30)") for s in ev.notes)
    # the same three again: still three trials; a new parameter is a fourth
    again = evaluate_strategies({n: get_strategy(n) for n in names}, dow30, registry=reg)
    assert again.trials.n_trials == 3 and reg.count_trials("dow30") == 6
    more = evaluate_strategies({"m": get_strategy("momentum", skip=5)}, dow30, registry=reg)
    assert more.trials.n_trials == 4
    dsr_before = table.loc["Deflated Sharpe ratio", "momentum"]
    assert more.stats().loc["Deflated Sharpe ratio"].iloc[0] < 1.0
    assert again.stats().loc["Deflated Sharpe ratio", "momentum"] == pytest.approx(dsr_before)
    # equals the plain path: the market's split with the same history, then run_strategy
    seg = market_split(dow30, "valid", warmup=252)
    plain = run_strategy(get_strategy("momentum"), seg, fees=0.001)
    np.testing.assert_array_equal(ev.results["momentum"].equity, plain.equity)


def test_test_split_evaluations_are_recorded_and_counted(dow30, tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    strat = {"equal_weight": get_strategy("equal_weight")}
    first = evaluate_strategies(strat, dow30, split="test", study="s", registry=reg)
    assert first.test_evaluations == 1
    assert "Test split used on purpose: study 's' has recorded 1 test-split" in first.notes[-1]
    second = evaluate_strategies(strat, dow30, split="test", study="s", registry=reg)
    assert second.test_evaluations == 2
    rows = reg.trials("s", "test")
    assert len(rows) == 2 and rows[0]["kind"] == "strategy" and rows[0]["n_obs"] > 500
    assert rows[0]["params"]["every"] == 21 and rows[0]["params"]["history"] == 252
    assert rows[0]["sharpe_annual"] == pytest.approx(rows[0]["sharpe"] * math.sqrt(252))
    assert evaluate_strategies(strat, dow30, study="s", registry=reg).test_evaluations == 2


def test_custom_dates_start_end_and_errors(dow30, tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    file_like = dow30.replace(meta={"name": "my-file"})
    with pytest.raises(ConfigError, match="--valid-start DATE --test-start DATE"):
        evaluate_strategies({"e": get_strategy("equal_weight")}, file_like, registry=reg)
    ev = evaluate_strategies(
        {"e": get_strategy("equal_weight")},
        file_like,
        registry=reg,
        valid_start="2015-01-01",
        test_start="2016-01-01",
        warmup=30,
        start="2015-03-02",
        end="2015-06-30",
    )
    seg = ev.panel
    assert ev.study == "my-file" and seg.warmup == 30
    assert str(seg.dates[30])[:10] == "2015-03-02" and str(seg.dates[-1])[:10] == "2015-06-30"
    assert str(ev.results["e"].dates[0])[:10] == "2015-03-02"
    with pytest.raises(ConfigError, match="split must be"):
        evaluate_strategies({"e": get_strategy("equal_weight")}, dow30, split="x", registry=reg)


def test_alpha_evaluations_are_recorded_as_ic_trials(dow30, tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    panel = dow30.slice("2018-06-01", "2021-06-30").select(["AAPL", "MSFT", "KO", "JPM", "CVX"])
    ev = evaluate_alphas(["Mean($close, 10) / $close - 1"], panel, split="test", registry=reg,
                         warmup=15, horizon=5)  # fmt: skip
    assert ev.split == "test" and ev.history == 15 and ev.test_evaluations == 1
    (row,) = reg.trials("dow30")
    assert row["kind"] == "alpha" and row["ic"] == pytest.approx(ev.reports[0].metrics.ic)
    assert reg.trial_set("dow30") == TrialSet()  # IC trials never enter a Sharpe trial set
    assert not any("in disguise" in note for note in ev.notes)
    disguised = evaluate_alphas(["Div(Less(Mul($close, 30), $high), $close)"], panel,
                                split="valid", registry=reg)  # fmt: skip
    (note,) = [n for n in disguised.notes if "in disguise" in n]
    assert "Less(Mul($close,30),$high) is its second operand on 100.0% of" in note


class _Study:
    name = "ledger-study"
    title = "ledger study"

    def __init__(self, dow30):
        self.panel = market_split(dow30, "test", warmup=252)

    def run(self, out_dir: Path, *, fast: bool, seed: int) -> ExperimentResult:
        backtests = {
            n: run_strategy(get_strategy(n), self.panel) for n in ("equal_weight", "momentum")
        }
        return ExperimentResult(
            table=pd.DataFrame({"x": [1.0]}, index=pd.Index(["a"], name="k")),
            backtests=backtests,
            windows={"test": (self.panel.dates[self.panel.warmup], self.panel.dates[-1])},
        )


def test_experiment_tables_show_the_dsr_over_the_study(dow30, tmp_path, monkeypatch) -> None:
    study = _Study(dow30)
    monkeypatch.setattr(experiment_runner, "get_experiment", lambda name: study)
    reg = Registry(tmp_path / "r.sqlite")
    console = Console(file=io.StringIO(), width=160)
    experiment_runner.run_experiment("ledger-study", tmp_path / "out", fast=True, console=console,
                                     registry=reg)  # fmt: skip
    rows = reg.trials("experiment/ledger-study", "test")
    assert [r["kind"] for r in rows] == ["experiment", "experiment"]
    trials = reg.trial_set("experiment/ledger-study", "test")
    assert trials.n_trials == 2
    text = console.file.getvalue()
    assert "over 2 trial(s) of study 'experiment/ledger-study' on the test split" in text
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Deflated Sharpe ratio</h2>" in page and "Trials (DSR)" in page
    expected = float(deflated_sharpe_ratio(study.run(tmp_path, fast=True, seed=0).backtests[
        "momentum"].returns, trials))  # fmt: skip
    assert f"{expected:.4f}" in page


POOL_SPEC = """
[job]
name = "pooljob"
seed = 3
output_dir = "pooljob"
registry = "registry.sqlite"

[data]
market = "sp500"
start = "2015-01-01"
end = "2016-03-31"
max_symbols = 30
valid_start = "2015-11-01"
test_start = "2016-01-01"
warmup = 40

[search]
method = "random"
max_len = 8

[pool]
capacity = 3

[budget]
steps = 64
checkpoint_minutes = 0
chunk_steps = 32
"""


def test_a_mined_pool_records_its_validation_and_test_ic(tmp_path: Path) -> None:
    from quantrl.jobs import load_spec, run_job

    path = tmp_path / "pool.toml"
    path.write_text(POOL_SPEC)
    result = run_job(load_spec(path))
    reg = Registry(tmp_path / "registry.sqlite")
    rows = reg.trials("sp500")
    assert result.formulas  # 64 random formulas fill a pool of 3
    assert [(r["kind"], r["name"], r["split"]) for r in rows] == [
        ("pool", "pooljob", "valid"),
        ("pool", "pooljob", "test"),
    ]
    for row in rows:
        assert row["ic"] == pytest.approx(result.metrics[row["split"]]["ic"], nan_ok=True)
        assert row["params"]["formulas"] == result.formulas and row["n_obs"] > 0
    assert reg.trial_set("sp500") == TrialSet()
