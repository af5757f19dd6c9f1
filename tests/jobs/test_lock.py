"""The job lock is an OS lock: a holder killed with SIGKILL frees it, and of several processes
racing for it exactly one wins while the others get the clear "already running" error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quantrl.errors import JobError
from quantrl.jobs.lock import JobLock

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from quantrl.jobs.lock import JobLock
lock = JobLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(3600)
"""

RACER = """
import sys, time
from pathlib import Path
from quantrl.errors import JobError
from quantrl.jobs.lock import JobLock
lock_path, go, done = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
lock = JobLock(lock_path)
try:
    lock.acquire()
except JobError as exc:
    print("lost", exc, flush=True)
    sys.exit(3)
print("won", flush=True)
while not done.exists():  # hold until every racer has tried
    time.sleep(0.01)
lock.release()
"""


def _python(code: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _line(proc: subprocess.Popen, timeout: float = 120.0) -> str:
    start = time.monotonic()
    line = proc.stdout.readline()  # the children print a line as soon as they are ready
    if not line:
        raise AssertionError(f"child exited: {proc.communicate(timeout=timeout)}")
    assert time.monotonic() - start < timeout
    return line.strip()


@pytest.mark.slow  # four fresh interpreters importing quantrl.jobs
def test_racers_for_a_dead_holders_lock_exactly_one_wins(tmp_path):
    lock_path = tmp_path / "job.lock"
    holder = _python(HOLDER, lock_path)
    assert _line(holder) == "held"
    with pytest.raises(JobError, match=f"already running .*held by pid {holder.pid}"):
        JobLock(lock_path).acquire()
    os.kill(holder.pid, signal.SIGKILL)  # dies holding the lock: no release, no cleanup
    holder.wait()
    assert JobLock(lock_path).read()["pid"] == holder.pid  # its side file is left behind

    go, done = tmp_path / "go", tmp_path / "done"
    racers = [_python(RACER, lock_path, go, done) for _ in range(3)]
    try:
        assert [_line(r) for r in racers] == ["ready"] * 3
        go.touch()
        results = [_line(r) for r in racers]
        done.touch()
        codes = [r.wait(timeout=60) for r in racers]
    finally:
        for r in racers:
            r.kill()
    winners = [i for i, line in enumerate(results) if line == "won"]
    assert len(winners) == 1, results
    for i, (line, code) in enumerate(zip(results, codes, strict=True)):
        if i != winners[0]:
            assert code == 3 and line.startswith("lost job is already running (lock ")
            assert f"pid {holder.pid}" not in line  # never names the dead holder
    with JobLock(lock_path):  # the winner released it
        pass


def test_second_lock_in_the_same_process_is_refused(tmp_path):
    path = tmp_path / "sub" / "job.lock"
    first = JobLock(path)
    first.acquire()
    try:
        with pytest.raises(JobError, match=f"already running .*held by pid {os.getpid()}"):
            JobLock(path).acquire()
        with pytest.raises(JobError, match="already held by this JobLock"):
            first.acquire()
    finally:
        first.release()
    first.release()  # releasing twice is harmless
    with JobLock(path) as again:
        assert again.read()["pid"] == os.getpid()
