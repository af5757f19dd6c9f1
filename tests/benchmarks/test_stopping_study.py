"""The early-stopping study's pieces: checkpoints every k formulas, the validation halves with
their gap, the choice on A, and its paired report equal to scipy's on the per-seed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from benchmarks.bench_mining import run_budget
from benchmarks.stopping_study import halves, select, stopping_figure, study_report


class _Task:
    n_offered = 0

    def timings(self) -> dict[str, float]:
        return {}


class _Searcher:
    """Offers one formula per step until ``until()`` holds."""

    steps_done = 0

    def __init__(self, task: _Task) -> None:
        self.task = task

    def run_chunk(self, steps, *, deadline=None, until=None):
        while until is None or not until():
            self.task.n_offered += 1
            self.steps_done += 1


def test_checkpoints_come_every_k_formulas_and_at_the_end():
    task = _Task()
    seen: list[int] = []
    run_budget(
        _Searcher(task), task, formulas=9, every=3, on_every=lambda: seen.append(task.n_offered)
    )
    assert seen == [3, 6, 9] and task.n_offered == 9


def test_halves_leave_a_gap_the_labels_cannot_cross():
    labelled = np.array([False, False] + [True] * 10 + [False])
    a, b = halves(labelled, gap=2)
    np.testing.assert_array_equal(a, [2, 3, 4])  # first half 2..6, less its last 2 rows
    np.testing.assert_array_equal(b, [7, 8, 9, 10, 11])


def _point(formulas, train, series):
    return {"formulas": formulas, "train_objective": train, "valid_rank_ic": series}


def test_the_choice_is_made_on_a_and_judged_on_b():
    a, b = np.array([0, 1]), np.array([2, 3])
    nan = math.nan
    points = [
        _point(400, 0.01, [nan, nan, nan, nan]),  # empty pool: never chosen
        _point(800, 0.02, [0.1, 0.3, -0.1, 0.0]),  # A 0.2 (first of equals), B -0.05
        _point(1200, 0.03, [0.3, 0.1, 0.5, 0.5]),  # A 0.2, B 0.5
        _point(1600, 0.04, [0.0, 0.0, 0.1, 0.2]),  # A 0.0, B 0.15: the last
    ]
    got = select(points, a, b)
    assert got["pick"] == 1 and got["pick_formulas"] == 800 and got["pick_train"] == 0.02
    assert got["selected_b"] == pytest.approx(-0.05) and got["last_b"] == pytest.approx(0.15)
    assert got["oracle_b"] == pytest.approx(0.5) and got["last_train"] == 0.04
    assert got["by_formulas_b"][1200] == pytest.approx(0.5)


def test_the_report_pairs_seeds_as_scipy_does():
    rows = {}
    chosen, last = [0.01, 0.03, -0.02], [0.00, 0.01, 0.01]
    for seed, (c, final) in enumerate(zip(chosen, last, strict=True)):
        rows[seed] = {
            "pick_formulas": 800, "pick_train": 0.05, "last_train": 0.07, "selected_b": c,
            "last_b": final, "oracle_b": 0.04, "by_formulas_b": {800: c},
        }  # fmt: skip
    text = study_report(rows, versus=800)
    t = sps.ttest_rel(chosen, last)
    assert f"chosen - last: {np.mean(np.subtract(chosen, last)):+.4f}" in text
    assert f"paired t p {t.pvalue:.3f}" in text
    # chosen = the 800-formula pool on every seed: no spread, so no p-value
    assert "chosen - 800 formulas: +0.0000 [+0.0000, +0.0000] (paired t p nan" in text


def test_the_figure_draws_seed_means():
    a, b = np.array([0, 1]), np.array([2, 3])
    curves = {
        s: [
            _point(400, 0.01 * s, [0.1 * s, 0.0, 0.2, 0.0]),
            _point(800, 0.02 * s, [0.0, 0.0, 0.4 * s, 0.0]),
        ]
        for s in (1, 2, 3)
    }
    fig = stopping_figure(curves, a, b)
    left, right = fig.axes
    np.testing.assert_allclose(left.lines[0].get_ydata(), [0.02, 0.04])
    half_a, half_b = right.lines[:2]
    np.testing.assert_allclose(half_a.get_ydata(), [0.1, 0.0])  # mean over seeds of 0.05 s
    np.testing.assert_allclose(half_b.get_ydata(), [0.1, 0.4])
