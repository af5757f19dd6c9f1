"""Freed-memory retention: on by default with glibc, switched off by the environment variable."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest

from quantrl import memory

GLIBC = sys.platform.startswith("linux") and ctypes.util.find_library("c") is not None


def _run(code: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return out.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="needs glibc's mallopt")
def test_evaluate_turns_retention_on_once() -> None:
    code = (
        "import numpy as np\n"
        "from quantrl import memory\n"
        "from quantrl.alpha import evaluate\n"
        "from quantrl.data.panel import Panel\n"
        "before = memory._state['done']\n"
        "p = Panel(np.datetime64('2020-01-01') + np.arange(50), ('A', 'B'),"
        " {'close': np.ones((50, 2))})\n"
        "evaluate('Mean($close, 5)', p)\n"
        "print(before, memory._state['done'], memory.retain_freed_memory())\n"
    )
    assert _run(code, QUANTRL_RETAIN_FREED_MEMORY="1") == "False True True"


def test_environment_variable_switches_it_off() -> None:
    code = (
        "from quantrl import memory\nprint(memory.retain_freed_memory(), memory._state['done'])\n"
    )
    assert _run(code, QUANTRL_RETAIN_FREED_MEMORY="0") == "False False"


def test_rejects_a_non_positive_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTRL_RETAIN_FREED_MEMORY", "1")
    with pytest.raises(ValueError, match="max_bytes"):
        memory.retain_freed_memory(0)
