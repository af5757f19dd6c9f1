"""Atomic, checksummed checkpoints that keep the previous good one, and never unpickle.

File layout: a header line ``QRLCKPT2 <sha256 of payload> <payload length>\\n`` followed by the
payload: one line of JSON (the state: dicts, lists, strings, numbers, ``None``) and, after its
newline, a safetensors blob holding every array and tensor of the state. Values that JSON cannot
hold keep their type through small tagged objects: ``{"__tuple__": [...]}``, ``{"__float__":
"nan"}``, ``{"__dict__": [[key, value], ...]}`` (a dict with non-string keys, e.g. an optimiser's
parameter indices), ``{"__tensor__": name}`` and ``{"__ndarray__": name}`` (an entry of the
safetensors blob). So RNG states (Python ``random``'s tuple, NumPy's ``MT19937`` / ``PCG64``
states, torch's byte tensor), weights and optimiser state round-trip exactly, and reading runs
no code from the file.

Saving first writes the new file completely (temp file, fsync, rename to a staged name), then
moves the current file to ``<name>.prev<suffix>`` and the staged one into place: a kill at any
moment leaves at least one complete checkpoint, and the current one is missing only between two
renames. Loading verifies the checksum and falls back to the previous file when the current one
is missing or damaged.

Files of the former layout (``QRLCKPT1``: a ``torch.save`` pickle) are still read, with
``torch.load(weights_only=True)``: torch's restricted unpickler, which accepts tensors, plain
containers and NumPy arrays and refuses any other object, so a crafted file runs no code.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy
import torch
from safetensors import SafetensorError

from quantrl.data.cache import atomic_write_bytes
from quantrl.errors import JobError

__all__ = [
    "decode_state",
    "encode_state",
    "load_checkpoint",
    "previous_path",
    "read_checkpoint",
    "save_checkpoint",
]

_MAGIC = b"QRLCKPT2"
_LEGACY_MAGIC = b"QRLCKPT1"
_TAGS = ("__tuple__", "__float__", "__dict__", "__tensor__", "__ndarray__")


def previous_path(path: Path) -> Path:
    """Path of the previous good checkpoint next to ``path``."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


# ---------------------------------------------------------------------- state <-> bytes
def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        return x if math.isfinite(x) else {"__float__": repr(x)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and k not in _TAGS for k in value):
            return {k: _encode(v, arrays) for k, v in value.items()}
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
    if isinstance(value, torch.Tensor | np.ndarray):
        is_tensor = isinstance(value, torch.Tensor)
        try:
            array = value.detach().cpu().numpy() if is_tensor else value
        except TypeError as exc:  # bfloat16 and other types NumPy lacks
            raise JobError(f"cannot checkpoint a {value.dtype} tensor: {exc}") from None
        if array.dtype.hasobject:
            raise JobError("cannot checkpoint an array of Python objects")
        name = f"a{len(arrays)}"
        arrays[name] = np.ascontiguousarray(array)
        return {"__tensor__" if is_tensor else "__ndarray__": name}
    raise JobError(f"cannot checkpoint a value of type {type(value).__name__}")


def encode_state(state: dict[str, Any]) -> bytes:
    """A state as one JSON line plus a safetensors blob of its arrays and tensors."""
    arrays: dict[str, np.ndarray] = {}
    document = _encode(state, arrays)
    head = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
    return head + b"\n" + safetensors.numpy.save(arrays)


def _tag(value: dict[str, Any], tag: str, kind: type) -> Any:
    if set(value) != {tag} or not isinstance(value[tag], kind):
        raise JobError(f"malformed {tag} entry in checkpoint")
    return value[tag]


def _decode(value: Any, arrays: dict[str, np.ndarray], used: set[str]) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_decode(v, arrays, used) for v in value]
    if not isinstance(value, dict):
        raise JobError(f"unexpected {type(value).__name__} in checkpoint")
    tags = [t for t in _TAGS if t in value]
    if not tags:
        return {k: _decode(v, arrays, used) for k, v in value.items()}
    tag = tags[0]
    if tag == "__tuple__":
        return tuple(_decode(v, arrays, used) for v in _tag(value, tag, list))
    if tag == "__float__":
        text = _tag(value, tag, str)
        if text not in ("nan", "inf", "-inf"):
            raise JobError(f"malformed __float__ {text[:20]!r} in checkpoint")
        return float(text)
    if tag == "__dict__":
        out = {}
        for item in _tag(value, tag, list):
            if not isinstance(item, list) or len(item) != 2:
                raise JobError("malformed __dict__ item in checkpoint")
            key = _decode(item[0], arrays, used)
            try:
                out[key] = _decode(item[1], arrays, used)
            except TypeError:  # an unhashable key
                raise JobError("malformed __dict__ key in checkpoint") from None
        return out
    name = _tag(value, tag, str)
    if name not in arrays:
        raise JobError(f"checkpoint names the missing array {name[:20]!r}")
    used.add(name)
    array = np.array(arrays[name])  # a writable copy
    return torch.from_numpy(array) if tag == "__tensor__" else array


def decode_state(payload: bytes) -> Any:
    """Inverse of ``encode_state`` (JobError on anything malformed); no code from the bytes runs."""
    head, sep, blob = payload.partition(b"\n")
    if not sep:
        raise JobError("checkpoint payload has no JSON line")
    try:
        document = json.loads(head)
        arrays = safetensors.numpy.load(blob)
    except (UnicodeDecodeError, json.JSONDecodeError, SafetensorError, ValueError) as exc:
        raise JobError(f"checkpoint payload cannot be decoded: {str(exc)[:200]}") from None
    except RecursionError:
        raise JobError("checkpoint payload is nested too deeply") from None
    used: set[str] = set()
    try:
        state = _decode(document, arrays, used)
    except RecursionError:
        raise JobError("checkpoint payload is nested too deeply") from None
    if used != set(arrays):
        raise JobError("checkpoint holds arrays its state does not name")
    return state


#: What a former checkpoint may name besides tensors and containers: plain NumPy arrays (the
#: array rebuilder, ``ndarray``, ``dtype`` and the numeric dtype classes), nothing callable else.
_LEGACY_GLOBALS = [
    np.zeros(1).__reduce__()[0],
    np.ndarray,
    np.dtype,
    *sorted({type(np.dtype(c)) for c in "?bBhHiIlLqQefd"}, key=str),
]


def _legacy_decode(payload: bytes) -> Any:
    """A ``QRLCKPT1`` payload through torch's restricted unpickler (tensors, containers, arrays)."""
    with torch.serialization.safe_globals(_LEGACY_GLOBALS), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # advice about pickle protocols
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)


# ---------------------------------------------------------------------- files
def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Serialise ``state`` and write it atomically, keeping the former file as the previous one."""
    p = Path(path)
    payload = encode_state(state)
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
    if not sep or len(parts) != 3 or parts[0] not in (_MAGIC, _LEGACY_MAGIC):
        raise JobError(f"checkpoint {p} has no valid header (corrupt or not a checkpoint)")
    if not parts[2].isdigit() or int(parts[2]) != len(payload):
        raise JobError(f"checkpoint {p} is truncated ({len(payload)} of {parts[2]!r} bytes)")
    if hashlib.sha256(payload).hexdigest().encode() != parts[1]:
        raise JobError(f"checkpoint {p} failed its checksum (corrupt)")
    if parts[0] == _MAGIC:
        try:
            state = decode_state(payload)
        except JobError as exc:
            raise JobError(f"checkpoint {p}: {exc}") from None
    else:
        try:
            state = _legacy_decode(payload)
        except Exception as exc:  # the restricted unpickler refused it, or it is damaged
            lines = str(exc).splitlines() or [type(exc).__name__]
            why = next((ln for ln in lines if "Unsupported" in ln), lines[0]).strip()
            raise JobError(
                f"checkpoint {p} (former pickle layout) cannot be read safely, it is not "
                f"unpickled beyond tensors and plain data ({why[:200]}): restart the job"
            ) from None
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
