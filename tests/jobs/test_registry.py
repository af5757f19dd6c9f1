"""The SQLite registry marks its files, refuses other applications' databases without touching
them, adopts registries made before the marks, and turns damage into one clear error on every
command (jobs list / show, alpha top, run-due)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantrl.cli import app as cli
from quantrl.errors import ConfigError
from quantrl.jobs.runner import run_due
from quantrl.jobs.store import APPLICATION_ID, SCHEMA_VERSION, Registry

METRIC_ROW = {"formula": "Mean($close, 5)", "weight": 1.0, "in_pool": True}


def _pragmas(path: Path) -> tuple[int, int, list[str]]:
    con = sqlite3.connect(path)
    try:
        app = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master ORDER BY name")]
        return app, version, names
    finally:
        con.close()


def _filled(path: Path, n_alphas: int = 400) -> Registry:
    reg = Registry(path)
    run = reg.start_run("j", "random", 0, "out")
    rows = [
        {**METRIC_ROW, "formula": f"Mean($close, {i + 2})", "valid_ic": 0.01}
        for i in range(n_alphas)
    ]
    reg.record_alphas(run, "j", rows)
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
    con.close()
    return reg


def test_new_and_empty_files_become_marked_registries(tmp_path):
    reg = Registry(tmp_path / "new" / "registry.sqlite")
    assert reg.marks() == (APPLICATION_ID, SCHEMA_VERSION) and reg.journal_mode() == "wal"
    assert APPLICATION_ID == int.from_bytes(b"QRL1", "big")
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    assert Registry(empty).marks() == (APPLICATION_ID, SCHEMA_VERSION)
    assert {"runs", "alphas", "sweeps"} <= set(_pragmas(empty)[2])


def test_registry_made_before_the_marks_is_adopted(tmp_path):
    path = tmp_path / "old.sqlite"
    run = Registry(path).start_run("j", "ppo", 1, "out")
    con = sqlite3.connect(path)
    con.execute("PRAGMA application_id = 0")
    con.execute("PRAGMA user_version = 0")
    con.commit()
    con.close()
    assert _pragmas(path)[:2] == (0, 0)
    reg = Registry(path)
    assert _pragmas(path)[:2] == (APPLICATION_ID, SCHEMA_VERSION)
    assert reg.run(run)["job"] == "j"  # its rows are kept


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (["CREATE TABLE notes (body TEXT)"], r"SQLite database with other tables \(notes\)"),
        (
            ["PRAGMA application_id = 1234", "CREATE TABLE runs (x)"],
            r"belongs to another application \(SQLite application_id 0x000004d2\)",
        ),
        (["CREATE TABLE runs (x)"], r"its table 'runs' lacks the columns"),
    ],
)
def test_other_applications_databases_are_refused_untouched(tmp_path, setup, message):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    for sql in setup:
        con.execute(sql)
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=f"^{path} is not a quantrl registry: .*{message}"):
        Registry(path)
    assert path.read_bytes() == before  # no tables added, no marks, no journal switch
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite"]


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    Registry(path)
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(ConfigError, match="newer than this quantrl's"):
        Registry(path)


def _damaged(tmp_path: Path, how: str) -> Path:
    path = tmp_path / f"{how}.sqlite"
    if how == "text":
        path.write_text("not a database\n" * 20)
        return path
    _filled(tmp_path / "good.sqlite")
    data = (tmp_path / "good.sqlite").read_bytes()
    if how == "header":
        path.write_bytes(data[:60])
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "pages":  # the schema page is intact; the alphas' pages are garbage
        path.write_bytes(data[:8192] + b"\xa5" * (len(data) - 8192))
    return path


@pytest.mark.parametrize("how", ["text", "header", "truncated", "pages"])
def test_damaged_files_give_a_clear_error_from_every_command(tmp_path, how, monkeypatch, capsys):
    path = _damaged(tmp_path, how)
    expected = rf"{path}.* (is not an SQLite database|is truncated|is damaged)"
    with pytest.raises(ConfigError, match=expected):
        reg = Registry(path)
        reg.runs()
        reg.top_alphas()
    runner = CliRunner(env={"COLUMNS": "250"})
    for args in (
        ["jobs", "list", "--registry", str(path)],
        ["jobs", "show", "1", "--registry", str(path)],
        ["alpha", "top", "--registry", str(path)],
    ):
        res = runner.invoke(cli.app, args)
        assert isinstance(res.exception, ConfigError), (args, res.output)
        assert str(path) in str(res.exception)
    # through the console entry point: one red line and exit code 1, no traceback
    monkeypatch.setattr(sys, "argv", ["quantrl", "alpha", "top", "--registry", str(path)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    err = capsys.readouterr().err
    assert exited.value.code == 1 and "error:" in err and "Traceback" not in err
    # run-due: the spec that uses this registry fails with the error, nothing raises
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "j.toml").write_text(
        f'[job]\nname = "j"\nregistry = "{path}"\nschedule = "every 1h"\n[budget]\nsteps = 10\n'
    )
    (outcome,) = run_due(folder)
    assert outcome.action == "failed" and str(path) in outcome.detail


def test_top_alphas_rank_on_the_validation_split_by_default(tmp_path):
    reg = Registry(tmp_path / "r.sqlite")
    run = reg.start_run("j", "random", 0, "out")
    rows = [
        {**METRIC_ROW, "formula": "A", "valid_rank_ic": 0.01, "test_rank_ic": 0.09},
        {**METRIC_ROW, "formula": "B", "valid_rank_ic": -0.05, "test_rank_ic": 0.02},
        {**METRIC_ROW, "formula": "C", "valid_rank_ic": 0.03, "test_rank_ic": -0.01},
    ]
    reg.record_alphas(run, "j", rows)
    assert [r["formula"] for r in reg.top_alphas()] == ["B", "C", "A"]
    assert [r["formula"] for r in reg.top_alphas(split="test")] == ["A", "B", "C"]
    res = CliRunner(env={"COLUMNS": "250"}).invoke(
        cli.app, ["alpha", "top", "--registry", str(reg.path)]
    )
    assert res.exit_code == 0, res.output
    assert "ranked by rank_ic on the valid split" in res.output
    shown = [line.split("│")[1].strip() for line in res.output.splitlines() if line.startswith("│")]
    assert shown == ["B", "C", "A"]
