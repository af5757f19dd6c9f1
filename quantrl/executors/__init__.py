"""Run quantrl's embarrassingly parallel work on local processes or on a Ray cluster."""

from __future__ import annotations

from quantrl.executors.executor import (
    EXECUTORS,
    Executor,
    LocalExecutor,
    RayExecutor,
    TaskError,
    make_executor,
    run_all,
)

__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "TaskError",
    "make_executor",
    "run_all",
]
