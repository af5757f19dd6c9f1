"""Test-wide set-up: a private cache folder, headless plotting, and shared fixtures."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    """Never touch the user's cache, registry or display: one temp folder each per test process."""
    os.environ.setdefault("QUANTRL_CACHE", tempfile.mkdtemp(prefix="quantrl-test-cache-"))
    registry = Path(tempfile.mkdtemp(prefix="quantrl-test-registry-")) / "registry.sqlite"
    os.environ.setdefault("QUANTRL_REGISTRY", str(registry))
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


def chromium_path() -> str | None:
    """The headless browser used to render reports, if installed."""
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def headless_chromium(tmp_path):
    """``render(uri, height) -> (screenshot PNG path, rendered DOM)`` in headless Chromium."""
    import subprocess

    exe = chromium_path()
    if exe is None:
        pytest.skip("headless Chromium is not installed (.ci/run installs it)")

    def render(uri: str, height: int = 3200) -> tuple[Path, str]:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            f"--window-size=1200,{height}",
        ]
        shot = tmp_path / "screenshot.png"
        subprocess.run(
            [*cmd, f"--screenshot={shot}", uri], check=True, timeout=120, capture_output=True
        )
        dom = subprocess.run(
            [*cmd, "--dump-dom", uri], check=True, timeout=120, capture_output=True, text=True
        ).stdout
        return shot, dom

    return render
