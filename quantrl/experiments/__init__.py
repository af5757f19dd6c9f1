"""Research reproductions as runnable experiments (``quantrl experiment run NAME``)."""

from quantrl.experiments.registry import (
    EXPERIMENTS,
    Experiment,
    ExperimentResult,
    get_experiment,
    list_experiments,
)
from quantrl.experiments.runner import run_experiment

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "ExperimentResult",
    "get_experiment",
    "list_experiments",
    "run_experiment",
]
