"""Module-level task functions for the executor tests (workers import them by name)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def square_plus_shared(shared: dict[str, Any], item: int) -> tuple[int, int]:
    """``item**2 + shared['offset']`` and the worker's pid."""
    return item * item + shared["offset"], os.getpid()


def die_once(shared: dict[str, Any], item: int) -> int:
    """The first attempt at item 2 kills its own worker process; every other call squares."""
    marker = Path(shared["dir"]) / f"attempt-{item}"
    if item == 2 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(9)
    time.sleep(0.05)
    return item * item


def always_die(shared: dict[str, Any], item: int) -> int:
    """Kills its worker every time."""
    os._exit(9)


def raise_value_error(shared: Any, item: int) -> int:
    """A task with a bug."""
    if item == 1:
        raise ValueError("bad item")
    return item
