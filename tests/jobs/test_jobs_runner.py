"""Jobs end to end: kill + resume equals an uninterrupted run, locks, corrupt checkpoints,
the SQLite registry, run-due and the CLI commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from quantrl.errors import JobError
from quantrl.jobs import JobLock, Registry, load_checkpoint, load_spec, run_due, run_job
from quantrl.jobs.checkpoint import previous_path, read_checkpoint, save_checkpoint

SPEC = """
[job]
name = "{name}"
seed = 5
output_dir = "{name}"
registry = "registry.sqlite"
schedule = "{schedule}"

[data]
market = "sp500"
start = "2015-01-01"
end = "2016-03-31"
max_symbols = 50
valid_start = "2015-11-01"
test_start = "2016-01-01"
warmup = 60

[search]
method = "{method}"
max_len = 10

[pool]
capacity = 4

[budget]
steps = {steps}
checkpoint_minutes = 0
chunk_steps = 64

[ppo]
n_steps = 32
n_envs = 2
batch_size = 32
n_epochs = 2
d_model = 16
hidden = 16
n_layers = 1
"""

ROOT = Path(__file__).resolve().parents[2]


def _spec(
    tmp_path: Path, name: str, *, method: str = "ppo", steps: int = 320, schedule: str = "manual"
) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(SPEC.format(name=name, method=method, steps=steps, schedule=schedule))
    return path


def _spawn(spec: Path, *, hold_after_steps: int = 0) -> subprocess.Popen:
    """A resumable run in a subprocess; with ``hold_after_steps`` it stops in its chunk hook
    (before that chunk's checkpoint) once that many steps are done, until it is killed."""
    code = (
        "import sys, time; from quantrl.jobs import run_job\n"
        "hold = int(sys.argv[2])\n"
        "def on_chunk(setup, info):\n"
        "    if hold and info['steps'] >= hold:\n"
        "        time.sleep(3600)\n"
        "run_job(sys.argv[1], resume=True, on_chunk=on_chunk)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", code, str(spec), str(hold_after_steps)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    start = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"job exited early: {proc.communicate()}")
        if time.monotonic() - start > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the job")
        time.sleep(0.2)


@pytest.mark.slow
def test_sigkill_resume_matches_uninterrupted_run(tmp_path):
    # uninterrupted reference, in this process
    ref_spec = load_spec(_spec(tmp_path, "ref"))
    ref = run_job(ref_spec)
    assert ref.steps == 320 and len(ref.formulas) > 0

    spec_path = _spec(tmp_path, "killed")
    spec = load_spec(spec_path)
    # the child checkpoints after chunks 1 and 2 (64, 128 steps), then holds in chunk 3's hook
    proc = _spawn(spec_path, hold_after_steps=192)
    _wait_for(lambda: previous_path(spec.checkpoint_path).exists(), proc)
    with pytest.raises(JobError, match="already running"):
        run_job(spec, resume=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state, _ = load_checkpoint(spec.checkpoint_path)
    assert state["status"] == "running" and 0 < state["searcher"]["num_timesteps"] < 320
    assert state["digest"] == spec.digest and state["spec"] == spec.canonical
    assert JobLock(spec.lock_path).read()["pid"] == proc.pid  # side file left by the kill
    # damage the newest checkpoint: resume must fall back to the previous good one
    data = bytearray(spec.checkpoint_path.read_bytes())
    data[-10] ^= 0xFF
    spec.checkpoint_path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="checksum"):
        resumed = run_job(spec, resume=True)
    assert resumed.resumed and resumed.steps == 320
    assert resumed.formulas == ref.formulas
    assert resumed.weights == ref.weights
    # the learning curve went through the kill in the checkpoint: one point per chunk, as in the
    # uninterrupted run
    assert [p["steps"] for p in ref.curve] == [64.0, 128.0, 192.0, 256.0, 320.0]
    np.testing.assert_equal(resumed.curve, ref.curve)  # NaN while the pool was empty
    saved = json.loads(spec.pool_path.read_text())
    assert [m["formula"] for m in saved["members"]] == ref.formulas
    assert saved["members"] == json.loads(ref_spec.pool_path.read_text())["members"]
    with JobLock(spec.lock_path) as lock:  # released by the run; the side file is gone
        assert lock.read()["pid"] == os.getpid()
    assert lock.read() is None


@pytest.mark.slow
def test_second_concurrent_run_exits_with_clear_message(tmp_path):
    spec_path = _spec(tmp_path, "busy", method="random", steps=10**9)
    spec = load_spec(spec_path)
    proc = _spawn(spec_path)
    try:
        _wait_for(lambda: JobLock(spec.lock_path).read() is not None, proc)
        code = "import sys; from quantrl.jobs import run_job; run_job(sys.argv[1])"
        second = subprocess.run(
            [sys.executable, "-c", code, str(spec_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        assert second.returncode != 0
        assert "already running" in second.stderr and str(proc.pid) in second.stderr
    finally:
        proc.kill()
        proc.wait()


def test_lock_is_refused_while_held_and_free_after_release(tmp_path):
    lock_path = tmp_path / "job.lock"
    with JobLock(lock_path) as lock:
        assert lock.read()["pid"] == os.getpid()
        with pytest.raises(JobError, match=f"already running .*pid {os.getpid()}"):
            JobLock(lock_path).acquire()
    assert lock.read() is None and lock_path.exists()  # the lock file stays, unlocked
    with JobLock(lock_path):
        pass


def test_checkpoint_checksum_and_fallback(tmp_path):
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, {"step": 1})
    save_checkpoint(path, {"step": 2})
    assert read_checkpoint(path)["step"] == 2
    assert read_checkpoint(previous_path(path))["step"] == 1
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # truncated
    with pytest.raises(JobError, match="truncated"):
        read_checkpoint(path)
    with pytest.warns(RuntimeWarning):
        state, used = load_checkpoint(path)
    assert state["step"] == 1 and used == previous_path(path)
    path.write_bytes(data[:-3] + b"xyz")  # same length, wrong bytes
    with pytest.raises(JobError, match="checksum"):
        read_checkpoint(path)
    previous_path(path).write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning), pytest.raises(JobError, match="no usable checkpoint"):
        load_checkpoint(path)
    assert load_checkpoint(tmp_path / "none.ckpt") is None


def test_checkpoint_is_complete_before_the_rotation(tmp_path, monkeypatch):
    import quantrl.jobs.checkpoint as ckpt

    path = tmp_path / "c.ckpt"
    save_checkpoint(path, {"step": 1})
    real_replace = os.replace

    def killed_at_rotation(src, dst):  # the new file is written; the process dies here
        if Path(src) == path:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", killed_at_rotation)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert read_checkpoint(path)["step"] == 1  # the current checkpoint was never touched
    save_checkpoint(path, {"step": 3})  # a leftover staged file is simply replaced
    assert read_checkpoint(path)["step"] == 3 and read_checkpoint(previous_path(path))["step"] == 1


def test_existing_checkpoint_needs_resume_or_restart(tmp_path):
    spec = load_spec(_spec(tmp_path, "twice", method="random", steps=64))
    run_job(spec)
    with pytest.raises(JobError, match="--resume"):
        run_job(spec)
    again = run_job(spec, resume=True)  # finished checkpoint: nothing left to do
    assert again.resumed and again.steps >= 64


def test_registry_run_due_and_cli(tmp_path):
    from quantrl.cli.mine import alpha_top_command, jobs_app, mine_command

    folder = tmp_path / "specs"
    folder.mkdir()
    spec_path = _spec(folder, "nightly", method="gp", steps=400, schedule="every 6h")
    _spec(folder, "manual-job", method="random", steps=64)
    outcomes = {o.job: o for o in run_due(folder)}
    assert outcomes["nightly"].action == "ran"
    assert outcomes["manual-job"].action == "skipped"
    again = {o.job: o for o in run_due(folder)}
    assert again["nightly"].action == "skipped"  # ran less than 6 h ago

    spec = load_spec(spec_path)
    reg = Registry(spec.registry)
    assert reg.journal_mode() == "wal"
    (run,) = reg.runs("nightly")
    assert run["status"] == "finished" and run["method"] == "gp" and run["steps"] >= 400
    assert run["test_ic"] is not None
    alphas = reg.alphas(run["id"])
    pool = json.loads(spec.pool_path.read_text())
    assert [a["formula"] for a in alphas] == [m["formula"] for m in pool["members"]]
    top = reg.top_alphas("rank_ic", "test")
    assert {t["formula"] for t in top} == {a["formula"] for a in alphas}
    vals = [abs(t["test_rank_ic"]) for t in top]
    assert vals == sorted(vals, reverse=True)

    app = typer.Typer()
    app.command("mine")(mine_command)
    app.command("top")(alpha_top_command)
    app.add_typer(jobs_app, name="jobs")
    runner = CliRunner(env={"COLUMNS": "250"})
    res = runner.invoke(app, ["jobs", "list", "--registry", str(spec.registry)])
    assert res.exit_code == 0, res.output
    assert "nightly" in res.output and "finished" in res.output
    res = runner.invoke(app, ["jobs", "show", str(run["id"]), "--spec", str(spec_path)])
    assert res.exit_code == 0 and alphas[0]["formula"][:20] in res.output.replace("\n", "")
    res = runner.invoke(app, ["top", "--metric", "rank_ic", "--registry", str(spec.registry)])
    assert res.exit_code == 0 and "ranked on the valid split" in res.output
    res = runner.invoke(
        app, ["top", "--split", "test", "--registry", str(spec.registry), "--limit", "3"]
    )
    assert res.exit_code == 0 and "ranked by rank_ic on the test split" in res.output
    res = runner.invoke(app, ["mine", str(folder / "manual-job.toml"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "test" in res.output
