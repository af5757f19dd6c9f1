"""Content-addressed disk cache: atomic writes, SHA-256 checksum verified on every read."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
from platformdirs import user_cache_dir

from quantrl.errors import DataError

CACHE_ENV = "QUANTRL_CACHE"
_FORMAT_VERSION = 1
_UMASK = os.umask(0)
os.umask(_UMASK)


def default_cache_dir() -> Path:
    """``$QUANTRL_CACHE`` when set, else the user cache dir (e.g. ~/.cache/quantrl)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()

    return Path(user_cache_dir("quantrl", appauthor=False))


def request_key(request: Mapping[str, Any]) -> str:
    """Stable SHA-256 of a request (sorted-key JSON): the address of its cache entry."""
    blob = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual file mode
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CorruptCacheEntry(DataError):
    """A cache entry failed its checksum or could not be decoded (it has been removed)."""


class CacheWarning(UserWarning):
    """The cache folder cannot be read or written: data is loaded without (that part of) it."""


class DiskCache:
    """Content-addressed store of byte blobs and polars frames under one folder.

    Each entry is ``<namespace>/<key>.bin`` plus ``<key>.json`` holding its SHA-256, size and the
    request that produced it. The JSON is written last, so an entry without one (an interrupted
    write) is a miss. A blob whose checksum does not match is deleted and reported as corrupt.

    A folder that cannot be written (read-only, or ``$QUANTRL_CACHE`` naming a file) never stops
    a load: the first failure emits one ``CacheWarning``, after which writes (or reads, when
    reading failed) are skipped and every lookup is a miss.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.readable = True
        self.writable = True

    def _failed(self, exc: OSError, action: str) -> None:
        if self.readable and self.writable:
            warnings.warn(
                f"cache folder {self.root} cannot be {action} ({exc.__class__.__name__}: "
                f"{exc.strerror or exc}); continuing without caching (point ${CACHE_ENV} at a "
                "writable folder, or pass cache=False / --no-cache)",
                CacheWarning,
                stacklevel=4,
            )
        if action == "read":
            self.readable = False
        self.writable = False

    def __repr__(self) -> str:
        return f"DiskCache({str(self.root)!r})"

    def _paths(self, namespace: str, key: str) -> tuple[Path, Path]:
        folder = self.root / namespace
        return folder / f"{key}.bin", folder / f"{key}.json"

    def contains(self, namespace: str, key: str) -> bool:
        """True when a committed entry exists (its checksum is checked on read, not here)."""
        blob, meta = self._paths(namespace, key)
        try:
            return blob.exists() and meta.exists()
        except OSError:
            return False

    def put_bytes(
        self, namespace: str, key: str, data: bytes, request: Mapping[str, Any] | None = None
    ) -> None:
        """Store ``data`` atomically with its checksum (skipped, with a warning, if unwritable)."""
        if not self.writable:
            return
        blob, meta = self._paths(namespace, key)
        info = {
            "format": _FORMAT_VERSION,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "request": dict(request or {}),
        }
        try:
            atomic_write_bytes(blob, data)
            atomic_write_bytes(meta, json.dumps(info, sort_keys=True, default=str).encode())
        except OSError as exc:
            self._failed(exc, "written")

    def get_bytes(self, namespace: str, key: str) -> bytes | None:
        """Return the stored bytes, None on a miss; raise CorruptCacheEntry (and delete) on damage.

        A folder that cannot be read is a miss (with one CacheWarning).
        """
        if not self.readable:
            return None
        blob, meta = self._paths(namespace, key)
        try:
            if not (blob.exists() and meta.exists()):
                return None
            text = meta.read_text()
            data = blob.read_bytes()
        except OSError as exc:
            self._failed(exc, "read")
            return None
        try:
            info = json.loads(text)
            expected = str(info["sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            self.discard(namespace, key)
            raise CorruptCacheEntry(
                f"cache metadata {meta} is unreadable ({exc}); entry removed", rule="corrupt cache"
            ) from exc
        if hashlib.sha256(data).hexdigest() != expected:
            self.discard(namespace, key)
            raise CorruptCacheEntry(
                f"cache file {blob} failed its checksum; entry removed", rule="corrupt cache"
            )
        return data

    def discard(self, namespace: str, key: str) -> None:
        """Remove an entry (both files) if present."""
        try:
            for path in self._paths(namespace, key):
                path.unlink(missing_ok=True)
        except OSError as exc:
            self._failed(exc, "written")

    def put_frame(
        self,
        namespace: str,
        key: str,
        frame: pl.DataFrame,
        request: Mapping[str, Any] | None = None,
    ) -> None:
        """Store a polars frame as zstd-compressed parquet."""
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd")
        self.put_bytes(namespace, key, buffer.getvalue(), request)

    def get_frame(self, namespace: str, key: str) -> pl.DataFrame | None:
        """Read a stored frame; None on a miss; CorruptCacheEntry if damaged (entry removed)."""
        data = self.get_bytes(namespace, key)
        if data is None:
            return None
        try:
            return pl.read_parquet(io.BytesIO(data))
        except Exception as exc:  # checksum matched but parquet unreadable: treat as corrupt
            self.discard(namespace, key)
            raise CorruptCacheEntry(
                f"cache entry {namespace}/{key} is not valid parquet ({exc}); entry removed",
                rule="corrupt cache",
            ) from exc
