"""A mining job's learning curve: the CSV and figure, and a checkpoint's curve checked when read
back (a job's curve through a run, a resume and a restart: ``test_resume_and_due``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from quantrl.errors import JobError
from quantrl.jobs.curve import CURVE_KEYS, curve_figure, curve_from_state, write_curve


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
