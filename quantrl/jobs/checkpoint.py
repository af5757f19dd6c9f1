"""Atomic, checksummed checkpoints that keep the previous good one.

File layout: a header line ``QRLCKPT1 <sha256 of payload> <payload length>\n`` followed by the
payload (``torch.save`` of a dict). Saving first writes the new file completely (temp file,
fsync, rename to a staged name), then moves the current file to ``<name>.prev<suffix>`` and the
staged one into place: a kill at any moment leaves at least one complete checkpoint, and the
current one is missing only between two renames. Loading verifies the checksum and falls back
to the previous file when the current one is missing or damaged.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from quantrl.data.cache import atomic_write_bytes
from quantrl.errors import JobError

__all__ = ["load_checkpoint", "previous_path", "read_checkpoint", "save_checkpoint"]

_MAGIC = b"QRLCKPT1"


def previous_path(path: Path) -> Path:
    """Path of the previous good checkpoint next to ``path``."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Serialise ``state`` and write it atomically, keeping the former file as the previous one."""
    p = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    header = _MAGIC + b" " + digest + b" " + str(len(payload)).encode() + b"\n"
    staged = p.with_name(f".{p.name}.staged")
    atomic_write_bytes(staged, header + payload)
    if p.exists():
        os.replace(p, previous_path(p))
    os.replace(staged, p)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read one checkpoint file; JobError when it is missing, truncated or fails its checksum."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise JobError(f"cannot read checkpoint {p}: {exc}") from exc
    head, sep, payload = data.partition(b"\n")
    parts = head.split(b" ")
    if not sep or len(parts) != 3 or parts[0] != _MAGIC:
        raise JobError(f"checkpoint {p} has no valid header (corrupt or not a checkpoint)")
    if not parts[2].isdigit() or int(parts[2]) != len(payload):
        raise JobError(f"checkpoint {p} is truncated ({len(payload)} of {parts[2]!r} bytes)")
    if hashlib.sha256(payload).hexdigest().encode() != parts[1]:
        raise JobError(f"checkpoint {p} failed its checksum (corrupt)")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    except Exception as exc:  # checksum matched but unreadable: still a bad checkpoint
        raise JobError(f"checkpoint {p} cannot be decoded: {exc}") from exc
    if not isinstance(state, dict):
        raise JobError(f"checkpoint {p} does not hold a state dict")
    return state


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], Path] | None:
    """Newest good checkpoint (current, else previous) and its path; None when there is none.

    A damaged current file triggers a warning and the previous one is used; JobError when
    checkpoints exist but none is good.
    """
    p = Path(path)
    candidates = [c for c in (p, previous_path(p)) if c.exists()]
    if not candidates:
        return None
    errors = []
    for c in candidates:
        try:
            return read_checkpoint(c), c
        except JobError as exc:
            errors.append(str(exc))
            warnings.warn(f"{exc}; trying the previous checkpoint", RuntimeWarning, stacklevel=2)
    raise JobError("no usable checkpoint: " + "; ".join(errors))
