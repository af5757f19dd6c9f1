"""Freed-memory retention: never switched on by the library, on once a program asks for it."""

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
def test_evaluate_leaves_the_allocator_alone_until_asked() -> None:
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
    assert _run(code) == "False False True"


def test_rejects_a_non_positive_budget() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        memory.retain_freed_memory(0)


def test_private_memo_frees_intermediates_yet_shares_repeated_subtrees() -> None:
    import numpy as np

    from quantrl.alpha import EvalCache, evaluate
    from quantrl.alpha.engine import _uses
    from quantrl.alpha.parser import parse
    from quantrl.data.panel import Panel

    rng = np.random.default_rng(0)
    close = 10 + np.cumsum(rng.normal(size=(60, 4)), axis=0) * 0.1
    fields = {"close": close, "high": close + 0.5, "low": close - 0.5}
    panel = Panel(np.datetime64("2020-01-01") + np.arange(60), ("A", "B", "C", "D"), fields)
    text = "Div(Sub(Max($high,5),$close),Sub(Max($high,5),Min($low,5)))"
    counts = _uses(parse(text), {})
    assert counts["Max($high,5)"] == 2  # read by both subtractions: computed once, kept for both
    shared = EvalCache()
    with_cache = evaluate(text, panel, cache=shared)
    private = evaluate(text, panel)
    np.testing.assert_array_equal(private, with_cache)
    assert len(shared) == 5  # a shared cache keeps every operator node
    mx, mn = panel["high"], panel["low"]
    want = np.full((60, 4), np.nan)
    for t in range(4, 60):
        hi = mx[t - 4 : t + 1].max(axis=0)
        want[t] = (hi - close[t]) / (hi - mn[t - 4 : t + 1].min(axis=0))
    np.testing.assert_allclose(private, want, rtol=1e-12)
