"""The progress bar: silent when disabled or not interactive, counting and drawing when enabled."""

from __future__ import annotations

import io
import re

from rich.console import Console

from quantrl.progress import ProgressBar


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=120), buffer


def test_disabled_or_non_interactive_bars_write_nothing_but_count():
    for enabled, terminal in ((False, True), (True, False)):
        console, buffer = _console(terminal)
        with ProgressBar("work", 10, enabled=enabled, console=console) as bar:
            assert not bar.active
            bar.advance(3)
            bar.advance()
            bar.update(7, description="later", info="x")
        assert buffer.getvalue() == ""
        assert bar.completed == 7 and bar.description == "later"


def _text(buffer: io.StringIO) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())


def test_enabled_bar_counts_and_draws_the_final_state():
    console, buffer = _console(True)
    with ProgressBar("mining", 20, completed=5, console=console) as bar:
        assert bar.active
        for _ in range(4):
            bar.advance(2)
        bar.update(description="mining [x]", info="best 0.1234")
        assert bar.completed == 13
        bar.update(20)
    assert not bar.active
    bar.close()  # idempotent
    text = _text(buffer)
    final = [line for line in text.splitlines() if "20/20" in line]
    # the description and info are shown as text (no rich markup), next to the final count
    assert final and "mining [x]" in final[-1] and "best 0.1234" in final[-1]


def test_unknown_total_counts_without_a_bar_length():
    console, buffer = _console(True)
    with ProgressBar("steps", None, console=console) as bar:
        bar.advance(5)
        assert bar.total is None and bar.completed == 5
    assert "5/?" in _text(buffer)
