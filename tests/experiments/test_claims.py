"""Claims as data and verdicts that follow from the confidence interval over seeds."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps
from rich.console import Console

from quantrl.errors import ConfigError, DataError
from quantrl.experiments import runner
from quantrl.experiments.claims import (
    NOT_REPRODUCED,
    NOT_TESTABLE,
    REPRODUCED,
    Claim,
    judge_claim,
    verdict_table,
)
from quantrl.experiments.registry import EXPERIMENTS, ExperimentResult, get_experiment

BEATS = Claim("beats", "the agent beats the rule", metric="agent", baseline="rule")


def _seeds(diff: np.ndarray, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rule = rng.normal(0.5, 0.3, diff.size)
    return pd.DataFrame({"agent": rule + diff, "rule": rule})


def test_a_known_difference_is_reproduced_with_the_paired_t_interval() -> None:
    diff = np.array([0.31, 0.28, 0.35, 0.30, 0.26, 0.33])
    row = judge_claim(BEATS, _seeds(diff))
    t = sps.ttest_1samp(diff, 0.0)
    ci = t.confidence_interval(0.95)
    assert row["verdict"] == REPRODUCED
    assert row["seeds"] == 6
    assert row["mean"] == pytest.approx(diff.mean(), abs=1e-12)
    assert (row["ci low"], row["ci high"]) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert row["p value"] == pytest.approx(t.pvalue, rel=1e-9)


def test_a_null_difference_is_not_reproduced_and_says_inconclusive() -> None:
    diff = np.array([0.2, -0.2, 0.1, -0.1, 0.05, -0.05])
    row = judge_claim(BEATS, _seeds(diff))
    assert row["verdict"] == NOT_REPRODUCED
    assert row["ci low"] < 0 < row["ci high"]
    assert row["detail"].startswith("inconclusive")


def test_the_opposite_effect_is_contradicted_and_direction_less_flips_it() -> None:
    frame = _seeds(np.array([-0.4, -0.5, -0.45, -0.38, -0.52]))
    assert judge_claim(BEATS, frame)["detail"].startswith("contradicted")
    worse = Claim("worse", "the agent trails", metric="agent", baseline="rule", direction="<")
    assert judge_claim(worse, frame)["verdict"] == REPRODUCED


def test_a_threshold_claim_is_a_one_sample_interval() -> None:
    frame = pd.DataFrame({"r2": [0.12, 0.10, 0.15, 0.11, 0.13]})
    claim = Claim("fit", "the model explains impact", metric="r2", threshold=0.05)
    row = judge_claim(claim, frame)
    ci = sps.ttest_1samp(frame["r2"] - 0.05, 0.0).confidence_interval(0.95)
    assert row["verdict"] == REPRODUCED
    assert (row["ci low"], row["ci high"]) == pytest.approx((ci.low, ci.high))
    assert row["measure"] == "r2 > 0.05"


def test_nan_seeds_are_dropped_and_too_few_is_not_reproduced() -> None:
    frame = pd.DataFrame({"agent": [1.0, np.nan, np.nan], "rule": [0.0, 0.0, 0.0]})
    row = judge_claim(BEATS, frame)
    assert row["seeds"] == 1 and row["verdict"] == NOT_REPRODUCED
    assert "at least 2" in row["detail"]


def test_fewer_than_five_seeds_is_called_a_smoke_run() -> None:
    row = judge_claim(BEATS, _seeds(np.array([1.0, 1.1, 0.9])))
    assert row["verdict"] == REPRODUCED and "smoke run" in row["detail"]


def test_untestable_claims_keep_their_reason_and_bad_claims_are_refused() -> None:
    claim = Claim("img", "CNN on images", testable=False, reason="no image data")
    row = judge_claim(claim, pd.DataFrame())
    assert row["verdict"] == NOT_TESTABLE and row["detail"] == "no image data"
    with pytest.raises(ConfigError, match="reason"):
        Claim("x", "text", testable=False)
    with pytest.raises(ConfigError, match="metric"):
        Claim("x", "text")
    with pytest.raises(ConfigError, match="direction"):
        Claim("x", "text", metric="m", direction="=")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="'rule'"):
        judge_claim(BEATS, pd.DataFrame({"agent": [1.0, 2.0]}))
    with pytest.raises(ConfigError, match="repeat"):
        verdict_table([BEATS, BEATS], _seeds(np.ones(3)))


class _Study:
    name = "toy"
    title = "toy study"
    claims = (
        Claim("edge", "the method beats the baseline", metric="method", baseline="base"),
        Claim("none", "the placebo beats the baseline", metric="placebo", baseline="base"),
        Claim("na", "a claim on data we lack", testable=False, reason="no such data"),
    )

    def run(self, out_dir: Path, *, fast: bool, seed: int) -> ExperimentResult:
        rng = np.random.default_rng(seed)
        base = float(rng.normal())
        noise = float(rng.normal(0, 0.1))
        return ExperimentResult(
            table=pd.DataFrame({"x": [base]}, index=pd.Index(["a"], name="k")),
            measurements={"method": base + 0.5 + noise, "placebo": base + noise, "base": base},
        )


def test_a_study_over_seeds_writes_its_verdicts_and_the_summary_reads_them(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(runner, "get_experiment", lambda name: _Study())
    monkeypatch.setattr(runner, "list_experiments", lambda: ["toy"])
    console = Console(file=io.StringIO(), width=200)
    out = runner.run_experiment("toy", tmp_path / "toy", seeds=6, seed=10, console=console)
    assert list(out.measurements.index) == list(range(10, 16))
    verdicts = out.verdicts["verdict"].to_dict()
    assert verdicts == {"edge": REPRODUCED, "none": NOT_REPRODUCED, "na": NOT_TESTABLE}
    saved = pd.read_csv(tmp_path / "toy" / "table.csv", index_col=0)
    assert saved["verdict"].to_dict() == verdicts
    assert (tmp_path / "toy" / "seed-12").is_dir()
    page = (tmp_path / "toy" / "report.html").read_text()
    assert "<h2>Verdicts</h2>" in page and "seeds 10..15" in page
    assert "reproduced" in console.file.getvalue()
    again = runner.run_experiment("toy", tmp_path / "again", seeds=6, seed=10, console=console)
    pd.testing.assert_frame_equal(out.verdicts, again.verdicts)
    summary = runner.experiment_summary(tmp_path)
    assert list(summary["study"]) == ["toy"] * 3
    assert summary["verdict"].tolist() == [REPRODUCED, NOT_REPRODUCED, NOT_TESTABLE]
    assert runner.experiment_summary(tmp_path / "none")["verdict"].eq("not run").all()


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_study_declares_its_papers_claims(name: str) -> None:
    experiment = get_experiment(name)
    claims = experiment.claims
    assert claims, f"{name} declares no claims"
    for claim in claims:
        assert isinstance(claim, Claim)
        assert claim.paper and claim.ours and claim.differs, (name, claim.key)
