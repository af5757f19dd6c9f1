"""Keep freed array memory in the process, so the next array of the same size costs no page faults.

Formula evaluation, mining and backtests allocate many (dates x symbols) arrays of a few MB each.
glibc's ``malloc`` serves such sizes with ``mmap`` or trims them off the heap when they are freed,
so every new array is handed fresh pages by the kernel and pays a page fault (and zeroing) per 4
KiB on first touch: measured here, that is half to two thirds of the time of a rolling mean on a
300 x 2,630 panel. ``retain_freed_memory`` raises glibc's mmap and trim thresholds so freed
blocks stay on the heap and are reused. The price: up to ``max_bytes`` of freed memory stays
reserved by the process instead of going back to the system.

It changes the allocator of the whole process, so quantrl never calls it by itself: a program that
owns its process (a long mining run, a notebook evaluating thousands of formulas) opts in by
calling ``retain_freed_memory()`` once. ``python -m benchmarks.bench_memory`` runs the formula
benchmark with and without it in fresh processes and prints the difference. On systems without
glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MAX_MMAP_THRESHOLD = 1 << 25  # glibc's upper bound for the mmap threshold on 64-bit (32 MiB)

_state: dict[str, int | bool] = {"done": False, "max_bytes": 0}


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def retain_freed_memory(max_bytes: int = 1 << 30) -> bool:
    """Let glibc keep up to ``max_bytes`` of freed memory for reuse; True when it took effect.

    Allocations up to 32 MiB come from the heap instead of fresh mappings, and the heap is trimmed
    only when more than ``max_bytes`` at its top is free. Idempotent; returns False when the C
    library has no ``mallopt``.
    """
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    if _state["done"] and int(_state["max_bytes"]) >= max_bytes:
        return True
    libc = _libc()
    if libc is None:
        return False
    trim = min(int(max_bytes), 2**31 - 1)
    ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, _MAX_MMAP_THRESHOLD))
    ok = bool(libc.mallopt(_M_TRIM_THRESHOLD, trim)) and ok
    _state["done"] = ok
    _state["max_bytes"] = trim if ok else 0
    return ok
