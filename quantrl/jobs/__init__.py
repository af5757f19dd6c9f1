"""Scheduled, resumable mining jobs: TOML specs, checkpoints, locks and a SQLite registry."""

from __future__ import annotations

from quantrl.jobs.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from quantrl.jobs.harness import build_setup, make_searcher
from quantrl.jobs.lock import JobLock
from quantrl.jobs.runner import JobResult, run_due, run_job
from quantrl.jobs.spec import JobSpec, Schedule, load_spec, parse_schedule
from quantrl.jobs.store import Registry

__all__ = [
    "JobLock",
    "JobResult",
    "JobSpec",
    "Registry",
    "Schedule",
    "build_setup",
    "load_checkpoint",
    "load_spec",
    "make_searcher",
    "parse_schedule",
    "read_checkpoint",
    "run_due",
    "run_job",
    "save_checkpoint",
]
