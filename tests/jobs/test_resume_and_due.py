"""Resume only under the spec that wrote the checkpoint (--restart starts over, keeping the old
files aside), the learning curve through a run, a resume and a restart, and run-due isolates
each spec's failure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from quantrl.cli.app import app
from quantrl.errors import JobError
from quantrl.jobs import runner
from quantrl.jobs.checkpoint import read_checkpoint
from quantrl.jobs.curve import CURVE_KEYS
from quantrl.jobs.runner import run_due, run_job
from quantrl.jobs.spec import load_spec
from quantrl.jobs.store import Registry

SPEC = """
[job]
name = "{name}"
seed = 5
output_dir = "{name}"
registry = "{registry}"
schedule = "{schedule}"

[data]
market = "sp500"
start = "2015-06-01"
end = "2016-03-31"
max_symbols = 20
valid_start = "2015-11-01"
test_start = "2016-01-01"
warmup = 40

[search]
method = "random"
max_len = {max_len}
{search}

[budget]
steps = {steps}
checkpoint_minutes = {ckpt}
chunk_steps = 32
"""


def _write(folder: Path, name: str, **kw: object) -> Path:
    values = {"registry": "registry.sqlite", "schedule": "manual", "max_len": 10, "steps": 64}
    values |= {"ckpt": 0, "search": ""} | kw
    path = folder / f"{name}.toml"
    path.write_text(SPEC.format(name=name, **values))
    return path


def test_resume_with_a_changed_spec_is_refused_and_restart_starts_over(tmp_path):
    path = _write(tmp_path, "job")
    first = run_job(load_spec(path))
    old = load_spec(path)
    assert read_checkpoint(old.checkpoint_path)["digest"] == old.digest
    # keys that do not change results: same digest, the finished checkpoint is taken as is
    _write(tmp_path, "job", schedule="every 6h", ckpt=3)
    again = run_job(load_spec(path), resume=True)
    assert again.resumed and again.formulas == first.formulas
    # keys that do: refused, naming each changed key with both values
    _write(tmp_path, "job", steps=96, max_len=12)
    changed = load_spec(path)
    with pytest.raises(JobError) as info:
        run_job(changed, resume=True)
    message = str(info.value)
    assert "the spec changed since the checkpoint" in message and "--restart" in message
    assert "[budget] steps: 64 -> 96" in message and "[search] max_len: 10 -> 12" in message
    res = CliRunner().invoke(app, ["mine", str(path), "--resume", "--quiet"])
    assert isinstance(res.exception, JobError) and "[budget] steps: 64 -> 96" in str(res.exception)
    # --restart: the old run's files move to replaced/, the new run starts from step 0
    res = CliRunner().invoke(app, ["mine", str(path), "--restart", "--quiet"])
    assert res.exit_code == 0, res.output
    replaced = changed.output_dir / "replaced"
    assert read_checkpoint(replaced / "checkpoint.ckpt")["digest"] == old.digest
    assert json.loads((replaced / "pool.json").read_text())["members"]
    state = read_checkpoint(changed.checkpoint_path)
    assert state["digest"] == changed.digest and state["status"] == "finished"
    runs = Registry(changed.registry).runs("job")
    assert runs[0]["steps"] >= 96 and 64 <= runs[1]["steps"] < 96  # a formula ends its run
    assert runs[0]["spec_digest"] == changed.digest != runs[1]["spec_digest"]


@pytest.fixture(scope="module")
def curve_job(tmp_path_factory):
    spec = load_spec(_write(tmp_path_factory.mktemp("jobs"), "curve", steps=96))
    return spec, run_job(spec)


def test_curve_one_point_per_chunk_ending_on_the_final_pool(curve_job):
    spec, result = curve_job
    curve = result.curve
    steps = [p["steps"] for p in curve]  # a formula is never split: chunks end past 32 tokens
    assert len(steps) == 3 and steps[-1] == result.steps >= 96
    assert all(b - a >= 32 for a, b in zip([0.0, *steps[:-1]], steps, strict=True))
    assert all(list(p) == list(CURVE_KEYS) for p in curve)
    formulas = [p["formulas"] for p in curve]
    assert formulas == sorted(formulas) and formulas[-1] == result.n_formulas
    assert curve[-1]["pool"] == len(result.formulas)
    # the last point is the final pool's validation figures, computed again for pool.json
    assert curve[-1]["valid_ic"] == pytest.approx(result.metrics["valid"]["ic"], abs=1e-12)
    assert curve[-1]["valid_rank_ic"] == pytest.approx(
        result.metrics["valid"]["rank_ic"], abs=1e-12
    )
    # NaN where the pool was still empty: assert_equal counts NaN equal to NaN
    np.testing.assert_equal(read_checkpoint(spec.checkpoint_path)["curve"], curve)


def test_curve_files_hold_the_points(curve_job):
    spec, result = curve_job
    table = pd.read_csv(spec.output_dir / "curve.csv")
    assert list(table.columns) == list(CURVE_KEYS)
    expected = pd.DataFrame(result.curve, columns=list(CURVE_KEYS))
    np.testing.assert_allclose(table.to_numpy(float), expected.to_numpy(float), rtol=0, atol=0)
    assert (spec.output_dir / "curve.png").read_bytes()[:4] == b"\x89PNG"
    # a resumed finished run writes the same curve again
    again = run_job(spec, resume=True)
    assert again.resumed
    np.testing.assert_equal(again.curve, result.curve)  # NaN while the pool was empty


def test_restart_moves_the_curve_aside(tmp_path):
    path = _write(tmp_path, "curve", steps=32)
    spec = load_spec(path)
    run_job(spec)
    before = (spec.output_dir / "curve.csv").read_bytes()
    res = CliRunner().invoke(app, ["mine", str(path), "--restart", "--quiet"])
    assert res.exit_code == 0, res.output
    assert f"learning curve: {(spec.output_dir / 'curve.png').resolve()}" in res.output
    replaced = spec.output_dir / "replaced"
    assert (replaced / "curve.csv").read_bytes() == before
    assert (replaced / "curve.png").exists()
    # same spec and seed: the new run draws the same curve
    assert (spec.output_dir / "curve.csv").read_bytes() == before
    shown = CliRunner().invoke(app, ["jobs", "show", "2", "--spec", str(path)])
    assert shown.exit_code == 0, shown.output
    assert f"learning curve: {(spec.output_dir / 'curve.png').resolve()}" in shown.output


def test_run_due_isolates_each_specs_failure(tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "a-bad.toml").write_text('[job]\nname = "bad"\n[budget]\nminutes = nan\n')
    (folder / "b-notes.sqlite").write_text("these are notes, not a database\n" * 10)
    _write(folder, "broken-registry", registry="b-notes.sqlite", schedule="every 1h")
    _write(folder, "no-such-feature", search='features = ["close", "vwap"]', schedule="every 1h")
    _write(folder, "boom", registry="boom.sqlite", schedule="every 1h")
    _write(folder, "good", registry="good.sqlite", schedule="every 1h")
    real_run_job = runner.run_job

    def run_job_or_boom(spec, **kw):
        if spec.name == "boom":
            raise RuntimeError("the miner fell over")
        return real_run_job(spec, **kw)

    monkeypatch.setattr(runner, "run_job", run_job_or_boom)
    outcomes = {Path(o.spec).stem: o for o in run_due(folder)}
    assert outcomes["good"].action == "ran" and "valid RankIC" in outcomes["good"].detail
    assert Registry(folder / "good.sqlite").last_run("good")["status"] == "finished"
    bad = outcomes["a-bad"]
    assert bad.action == "failed" and "[budget] minutes: must be a finite number" in bad.detail
    broken = outcomes["broken-registry"]
    assert broken.action == "failed" and "b-notes.sqlite is not an SQLite database" in broken.detail
    feature = outcomes["no-such-feature"]
    assert feature.action == "failed" and "[search] features: ['vwap']" in feature.detail
    assert outcomes["boom"].detail == "RuntimeError: the miner fell over"
    # the CLI: a table of every spec, a summary, and exit code 1 because some failed
    res = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["jobs", "run-due", str(folder), "--quiet"])
    assert res.exit_code == 1
    assert "1 skipped" in res.output and "4 failed" in res.output  # good ran < 1 h ago
    assert "a-bad.toml" in res.output and "b-notes.sqlite" in res.output
