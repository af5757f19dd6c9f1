"""A per-job lock: an OS-level file lock (``filelock``) that dies with its holder.

The lock is ``fcntl.flock`` on the lock file (``LockFileEx`` on Windows) through
``filelock.FileLock``: the kernel grants it to one open file at a time and releases it when the
holder's process ends, however it ends. So there is no stale lock to take over and no race
between two processes that find one: whoever the kernel gives the lock to runs, the others get
``JobError("job is already running ...")`` at once. The lock file itself stays in place (removing
it would let two processes lock two different files of the same name).

For the error message only, the holder writes ``{"pid", "hostname", "since"}`` to a side file
``<lock>.holder`` after it has the lock and removes it before releasing; correctness never
depends on that file (it may be missing, or stale after a kill, when someone reads it).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from quantrl.data.cache import atomic_write_bytes
from quantrl.errors import JobError

__all__ = ["JobLock"]


class JobLock:
    """Exclusive, non-blocking job lock over ``filelock.FileLock`` (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.holder_path = self.path.with_name(self.path.name + ".holder")
        self._lock = FileLock(self.path, timeout=0, is_singleton=False)
        self.held = False

    def read(self) -> dict[str, object] | None:
        """The holder's side file (pid, hostname, since), or None when absent or unreadable."""
        try:
            data = json.loads(self.holder_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def acquire(self) -> None:
        """Take the lock or raise JobError naming the holder when it is known."""
        if self.held:
            raise JobError(f"lock {self.path} is already held by this JobLock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise JobError(self._busy_message()) from None
        self.held = True
        info = {"pid": os.getpid(), "hostname": socket.gethostname(), "since": time.time()}
        try:
            atomic_write_bytes(self.holder_path, json.dumps(info).encode())
        except OSError:  # informational only
            pass

    def _busy_message(self) -> str:
        holder = self.read()
        who = ""
        if holder is not None and _may_hold(holder):
            who = f" held by pid {holder.get('pid')} on {holder.get('hostname')}"
        return (
            f"job is already running (lock {self.path}{who}); wait for it to finish. The lock is "
            "released by the operating system when that process ends"
        )

    def release(self) -> None:
        """Release the lock if this object holds it (the side file is removed first)."""
        if not self.held:
            return
        holder = self.read()
        if holder is not None and holder.get("pid") == os.getpid():
            self.holder_path.unlink(missing_ok=True)
        self._lock.release()
        self.held = False

    def __enter__(self) -> JobLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _may_hold(holder: dict[str, object]) -> bool:
    """False when the side file names a process of this host that no longer exists (the new
    holder has not written its own yet): the message then names no one rather than the dead."""
    pid = holder.get("pid")
    if holder.get("hostname") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
