"""A mining job's learning curve: one point per chunk, in the checkpoint, written as CSV and PNG,
moved aside on --restart, and checked when read back."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from quantrl.cli.app import app
from quantrl.errors import JobError
from quantrl.jobs.checkpoint import read_checkpoint
from quantrl.jobs.curve import CURVE_KEYS, curve_figure, curve_from_state, write_curve
from quantrl.jobs.runner import run_job
from quantrl.jobs.spec import load_spec

SPEC = """
[job]
name = "curve"
seed = 3
output_dir = "curve"
registry = "registry.sqlite"

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
max_len = 10

[budget]
steps = 96
checkpoint_minutes = 0
chunk_steps = 32
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jobs")
    path = folder / "curve.toml"
    path.write_text(SPEC)
    spec = load_spec(path)
    return spec, run_job(spec)


def test_one_point_per_chunk_ending_on_the_final_pool(finished):
    spec, result = finished
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
    assert read_checkpoint(spec.checkpoint_path)["curve"] == curve


def test_curve_files_hold_the_points(finished):
    spec, result = finished
    table = pd.read_csv(spec.output_dir / "curve.csv")
    assert list(table.columns) == list(CURVE_KEYS)
    expected = pd.DataFrame(result.curve, columns=list(CURVE_KEYS))
    np.testing.assert_allclose(table.to_numpy(float), expected.to_numpy(float), rtol=0, atol=0)
    assert (spec.output_dir / "curve.png").read_bytes()[:4] == b"\x89PNG"
    # a resumed finished run writes the same curve again
    again = run_job(spec, resume=True)
    assert again.resumed and again.curve == result.curve


def test_restart_moves_the_curve_aside(tmp_path):
    path = tmp_path / "curve.toml"
    path.write_text(SPEC.replace("steps = 96", "steps = 32"))
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


def test_nan_figures_are_empty_cells_and_the_figure_draws_the_points(tmp_path: Path):
    curve = [
        {"steps": 10.0, "formulas": 1.0, "pool": 0.0, "train_ic": 0.0, "valid_ic": math.nan,
         "valid_rank_ic": math.nan},
        {"steps": 20.0, "formulas": 2.0, "pool": 1.0, "train_ic": 0.05, "valid_ic": 0.01,
         "valid_rank_ic": -0.02},
    ]  # fmt: skip
    csv_path, png_path = write_curve(curve, tmp_path, "t")
    lines = csv_path.read_text().splitlines()
    assert lines[1] == "10,1,0,0.0,," and lines[2] == "20,2,1,0.05,0.01,-0.02"
    assert png_path is not None and png_path.read_bytes()[:4] == b"\x89PNG"
    ax = curve_figure(curve).axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1.0, 2.0])
    np.testing.assert_array_equal(ax.lines[2].get_ydata(), [math.nan, -0.02])
    empty_csv, empty_png = write_curve([], tmp_path / "empty")
    assert empty_csv.read_text() == ",".join(CURVE_KEYS) + "\n" and empty_png is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"steps": 1}, "not a list"),
        ([{"steps": 1.0}], "does not hold exactly"),
        ([dict.fromkeys(CURVE_KEYS, 1.0) | {"pool": "3"}], "pool not a number"),
        ([dict.fromkeys(CURVE_KEYS, 1.0) | {"train_ic": True}], "train_ic not a number"),
        ([dict.fromkeys(CURVE_KEYS, 1.0) | {"extra": 1.0}], "does not hold exactly"),
        (["point"], "point 0"),
    ],
)
def test_a_malformed_checkpoint_curve_is_refused(raw, message):
    with pytest.raises(JobError, match=message):
        curve_from_state(raw)


def test_an_older_checkpoint_without_a_curve_reads_as_empty():
    assert curve_from_state(None) == []
    assert curve_from_state([dict.fromkeys(CURVE_KEYS, 2)]) == [dict.fromkeys(CURVE_KEYS, 2.0)]
