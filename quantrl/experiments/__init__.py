"""Research reproductions as runnable experiments (``quantrl experiment run NAME``)."""

from quantrl.experiments.claims import Claim, verdict_table
from quantrl.experiments.registry import (
    EXPERIMENTS,
    Experiment,
    ExperimentResult,
    get_experiment,
    list_experiments,
)
from quantrl.experiments.runner import StudyResult, experiment_summary, run_experiment

__all__ = [
    "Claim",
    "StudyResult",
    "experiment_summary",
    "verdict_table",
    "EXPERIMENTS",
    "Experiment",
    "ExperimentResult",
    "get_experiment",
    "list_experiments",
    "run_experiment",
]
