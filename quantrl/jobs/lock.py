"""A per-job lock file (pid + hostname) that refuses concurrent runs and clears stale locks."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from quantrl.data.cache import atomic_write_bytes
from quantrl.errors import JobError

__all__ = ["JobLock", "pid_alive"]


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobLock:
    """Exclusive lock: a file created atomically (hard link of a complete temp file).

    The file holds ``{"pid", "hostname", "since"}``. Acquiring fails with ``JobError`` while
    another live process holds it; a lock left by a dead process on this host is removed and
    taken over. A lock from another host is never taken over automatically.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.held = False

    def read(self) -> dict[str, object] | None:
        """Contents of the lock file, or None when absent or unreadable."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def acquire(self) -> None:
        """Take the lock or raise JobError naming the holder."""
        host = socket.gethostname()
        info = {"pid": os.getpid(), "hostname": host, "since": time.time()}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        atomic_write_bytes(tmp, json.dumps(info).encode())
        try:
            for _ in range(3):
                try:
                    os.link(tmp, self.path)
                    self.held = True
                    return
                except FileExistsError:
                    holder = self.read()
                    if holder is None:
                        # being written or corrupt: a complete file always has JSON; wait briefly
                        time.sleep(0.05)
                        holder = self.read()
                    if holder is None:
                        self.path.unlink(missing_ok=True)
                        continue
                    pid = int(holder.get("pid", -1))  # type: ignore[call-overload]
                    if holder.get("hostname") == host and not pid_alive(pid):
                        self.path.unlink(missing_ok=True)  # stale lock of a dead process
                        continue
                    raise JobError(
                        f"job is already running (lock {self.path} held by pid {pid} on "
                        f"{holder.get('hostname')}); wait for it or remove the lock if that "
                        "process is gone"
                    ) from None
            raise JobError(f"could not acquire lock {self.path}")
        finally:
            tmp.unlink(missing_ok=True)

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if self.held:
            holder = self.read()
            if holder is not None and holder.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
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
