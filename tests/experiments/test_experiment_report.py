"""The report of an experiment without backtests: its tables, windows and notes, escaped."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from rich.console import Console

from quantrl.experiments import runner
from quantrl.experiments.registry import ExperimentResult

EVIL = "<script>alert(1)</script>"


class _Study:
    name = "study"
    title = f"study {EVIL}"

    def run(self, out_dir: Path, *, fast: bool, seed: int) -> ExperimentResult:
        table = pd.DataFrame({"formula": [EVIL], "ic": [0.25]}, index=pd.Index(["a"], name="k"))
        return ExperimentResult(
            table=table,
            notes=[f"note {EVIL}"],
            extra_tables={"Extra": pd.DataFrame({"n": [3]}, index=pd.Index(["b"], name="k"))},
            windows={"test": (pd.Timestamp("2020-01-02"), pd.Timestamp("2020-12-31"))},
        )


def test_report_without_backtests_lists_tables_and_notes(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "get_experiment", lambda name: _Study())
    console = Console(file=io.StringIO(), width=120)
    runner.run_experiment("study", tmp_path, fast=True, seed=3, console=console)
    text = (tmp_path / "report.html").read_text()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert "<script" not in text
    assert f"<title>study {escaped}</title>" in text
    assert "experiment study, seed 3, fast run · generated" in text
    assert f"<tr><td>a</td><td>{escaped}</td><td>0.2500</td></tr>" in text
    assert "<tr><td>b</td><td>3</td></tr>" in text
    assert "<tr><td>test</td><td>2020-01-02 00:00:00</td><td>2020-12-31 00:00:00</td></tr>" in text
    assert f"<li>note {escaped}</li>" in text
    order = [text.index(f"<h2>{h}</h2>") for h in ("Results", "Extra", "Windows", "Notes")]
    assert order == sorted(order)
