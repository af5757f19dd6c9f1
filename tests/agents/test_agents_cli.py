"""``quantrl train`` / ``quantrl eval`` through typer's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from quantrl.agents import evaluate_agent, load
from quantrl.cli.train import eval_command, train_command


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """A typer app with the two commands wired as the main app wires them."""
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("eval")(eval_command)
    return app


def _train(app, tmp_path, timesteps: int, *extra: str):
    out = tmp_path / "runs" / "ppo"
    args = ["train", "quantrl/Portfolio-v0", "--algo", "ppo", "--timesteps", str(timesteps)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--seed", "0", *extra])
    assert result.exit_code == 0, result.output
    return out, result


def test_train_then_eval_with_report(app, tmp_path, dow30):
    out, result = _train(app, tmp_path, 1000, "--eval-freq", "500")
    assert "saved run to" in result.output
    assert "eval @ 512" in result.output or "eval @ 500" in result.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["market"] == "dow30" and meta["extra"]["timesteps"] >= 1000
    assert len(meta["symbols"]) == dow30.n_symbols
    assert (out / "best" / "model.safetensors").exists()
    report = tmp_path / "tear.html"
    ev = CliRunner().invoke(app, ["eval", str(out), "--split", "test", "--report", str(report)])
    assert ev.exit_code == 0, ev.output
    assert "Sharpe ratio" in ev.output and "Deflated Sharpe ratio" in ev.output
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") or "<html" in html[:500]
    # the printed total return is the library's evaluation of the saved model
    res = evaluate_agent(load(out).model, out, split="test")
    assert f"{res.total_return:.4f}" in ev.output
    assert res.dates[-1] == dow30.dates[-1]


def test_cli_errors_are_clear(app, tmp_path):
    bad = CliRunner().invoke(
        app,
        [
            "train",
            "quantrl/Portfolio-v0",
            "--algo",
            "dqn",
            "--timesteps",
            "10",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert bad.exit_code != 0
    assert "Discrete" in str(bad.exception)
    missing = CliRunner().invoke(app, ["eval", str(tmp_path / "nothing")])
    assert missing.exit_code != 0 and "meta.json" in str(missing.exception)


@pytest.mark.slow
def test_train_5000_steps(app, tmp_path):
    out, _ = _train(app, tmp_path, 5000)
    run = load(out)
    assert run.model.num_timesteps >= 5000
    res = evaluate_agent(None, out, split="test")
    assert np.isfinite(res.equity).all()
