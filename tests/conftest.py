"""Test-wide set-up: a private cache folder, headless plotting, and shared fixtures."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    """Never touch the user's cache or display: one temp cache per test process."""
    os.environ.setdefault("QUANTRL_CACHE", tempfile.mkdtemp(prefix="quantrl-test-cache-"))
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def dow30():
    """The bundled DOW30 panel."""
    import quantrl

    return quantrl.load_market("dow30")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator."""
    return np.random.default_rng(12345)


@pytest.fixture
def fixtures_dir() -> Path:
    """Folder of recorded test inputs."""
    return FIXTURES
