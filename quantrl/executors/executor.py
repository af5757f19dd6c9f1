"""Executors for embarrassingly parallel work: local processes (the default) or a Ray cluster.

An executor runs ``fn(shared, item)`` for every item and yields ``(index, result)`` pairs as the
results arrive. ``shared`` is the large read-only input (panels, labels, a spec) and travels to
each worker once, never once per task: ``LocalExecutor`` pickles it once per map to a temporary
file that each worker process reads once, ``RayExecutor`` puts it in Ray's object store once
(``ray.put``) and every task reads that copy (numpy arrays are mapped from shared memory, not
copied). ``fn`` must be a module-level function, deterministic in ``(shared, item)``, and must not
write shared state: results are consumed on the driver only, so a task that is retried after its
worker died cannot be counted twice. A worker that dies (killed, out of memory) has its task
retried up to ``max_retries`` times; an exception raised by ``fn`` itself is a bug in the task
and stops the map with a ``TaskError`` naming the item.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from quantrl.errors import ConfigError, QuantRLError

__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "TaskError",
    "make_executor",
    "run_all",
]

EXECUTORS = ("local", "ray")

TaskFn = Callable[[Any, Any], Any]


class TaskError(QuantRLError, RuntimeError):
    """A distributed task failed: its function raised, or its worker died too many times."""


class Executor(Protocol):
    """Runs ``fn(shared, item)`` over items; yields ``(index, result)`` in completion order."""

    kind: str
    workers: int

    def map(
        self, fn: TaskFn, items: Sequence[Any], shared: Any = None
    ) -> Iterator[tuple[int, Any]]:
        """Run every item; see the module docstring for the guarantees."""
        ...

    def close(self) -> None:
        """Release the executor's resources."""
        ...


def _check_retries(max_retries: int) -> int:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
    return max_retries


def _check_workers(workers: int | None) -> int:
    if workers is None:
        return max(1, os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    return workers


# --------------------------------------------------------------------------- local processes

_SHARED: dict[str, Any] = {}


def _shared_from(path: str) -> Any:
    """The shared input of a map, unpickled once per worker process and kept for its tasks."""
    if _SHARED.get("path") != path:
        with open(path, "rb") as fh:
            _SHARED["value"] = pickle.load(fh)
        _SHARED["path"] = path
    return _SHARED["value"]


def _call_local(fn: TaskFn, path: str, item: Any) -> Any:
    return fn(_shared_from(path), item)


class LocalExecutor:
    """Worker processes on this machine (``workers=1`` runs in the calling process).

    The processes start on the first ``map`` and are reused by later ones until ``close()``.
    The shared input is pickled once per map into a temporary file that each worker reads once.
    """

    kind = "local"

    def __init__(
        self, workers: int | None = None, *, max_retries: int = 2, start_method: str = "spawn"
    ) -> None:
        self.workers = _check_workers(workers)
        self.max_retries = _check_retries(max_retries)
        if start_method not in mp.get_all_start_methods():
            raise ConfigError(f"start method {start_method!r} is not available here")
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=mp.get_context(self.start_method)
            )
        return self._pool

    def map(
        self, fn: TaskFn, items: Sequence[Any], shared: Any = None
    ) -> Iterator[tuple[int, Any]]:
        """Run every item; a pool whose worker died is rebuilt and its unfinished items rerun."""
        items = list(items)
        if self.workers == 1:
            for i, item in enumerate(items):
                try:
                    yield i, fn(shared, item)
                except Exception as exc:
                    raise TaskError(f"task {i} ({item!r}) failed: {exc!r}") from exc
            return
        with tempfile.TemporaryDirectory(prefix="quantrl-shared-") as tmp:
            path = os.path.join(tmp, "shared.pkl")
            with open(path, "wb") as fh:
                pickle.dump(shared, fh, protocol=pickle.HIGHEST_PROTOCOL)
            pending = list(range(len(items)))
            breaks = 0
            while pending:
                pending = yield from self._run_pool(fn, items, path, pending)
                if pending:
                    breaks += 1
                    if breaks > self.max_retries:
                        raise TaskError(
                            f"worker processes died {breaks} times; tasks {pending[:5]} did not "
                            f"finish (max_retries={self.max_retries})"
                        )

    def _run_pool(
        self, fn: TaskFn, items: list[Any], path: str, pending: list[int]
    ) -> Iterator[tuple[int, Any]]:
        pool = self._get_pool()
        left = list(pending)
        futures: dict[Future[Any], int] = {
            pool.submit(_call_local, fn, path, items[i]): i for i in pending
        }
        while futures:
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for fut in finished:
                i = futures.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    self._discard_pool()
                    continue  # the pool is gone: every unfinished item is rerun in a new one
                except Exception as exc:
                    for other in futures:
                        other.cancel()
                    raise TaskError(f"task {i} ({items[i]!r}) failed: {exc!r}") from exc
                left.remove(i)
                yield i, result
        return left

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# --------------------------------------------------------------------------- Ray


def _call_ray(fn: TaskFn, shared: Any, item: Any) -> Any:
    return fn(shared, item)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError("the Ray executor needs ray: pip install 'quantrl[distributed]'") from exc
    return ray


class RayExecutor:
    """Tasks on a Ray cluster: ``address=None`` starts a local one with ``workers`` CPUs.

    ``address="auto"`` joins the cluster this machine belongs to (``ray start --head`` ran here),
    ``"ray://host:10001"`` a remote one through Ray Client. At most ``workers`` tasks run at once
    (default: the cluster's CPUs). Each task asks for ``num_cpus`` CPUs.
    """

    kind = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        *,
        max_retries: int = 2,
        num_cpus: float = 1.0,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        ray = _import_ray()
        self.max_retries = _check_retries(max_retries)
        self.num_cpus = float(num_cpus)
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address:
                kwargs["address"] = address
            elif workers is not None:
                kwargs["num_cpus"] = _check_workers(workers)
            kwargs.update(init_kwargs or {})
            ray.init(**kwargs)
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = _check_workers(workers) if workers is not None else max(1, cpus)
        self.address = address

    def map(
        self, fn: TaskFn, items: Sequence[Any], shared: Any = None
    ) -> Iterator[tuple[int, Any]]:
        """Run every item with at most ``workers`` in flight; Ray reruns a task whose worker died."""
        ray = _import_ray()
        items = list(items)
        shared_ref = ray.put(shared)  # once, for every task
        remote = ray.remote(num_cpus=self.num_cpus, max_retries=self.max_retries)(_call_ray)
        queue = list(range(len(items)))
        running: dict[Any, int] = {}
        while queue or running:
            while queue and len(running) < self.workers:
                i = queue.pop(0)
                running[remote.remote(fn, shared_ref, items[i])] = i
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                i = running.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:
                    for other in running:
                        ray.cancel(other, force=True)
                    raise TaskError(f"task {i} ({items[i]!r}) failed: {exc!r}") from exc
                yield i, result

    def close(self) -> None:
        """Shut down the Ray instance this executor started (a joined cluster is left alone)."""
        if self._started:
            _import_ray().shutdown()
            self._started = False


def make_executor(
    kind: str = "local",
    *,
    workers: int | None = None,
    address: str | None = None,
    max_retries: int = 2,
) -> LocalExecutor | RayExecutor:
    """An executor by name: ``local`` (processes) or ``ray`` (``address``: None, auto, ray://)."""
    if kind == "local":
        if address:
            raise ConfigError("address= is only for the ray executor")
        return LocalExecutor(workers, max_retries=max_retries)
    if kind == "ray":
        return RayExecutor(address or None, workers, max_retries=max_retries)
    raise ConfigError(f"unknown executor {kind!r}; use one of {EXECUTORS}")


def run_all(executor: Executor, fn: TaskFn, items: Iterable[Any], shared: Any = None) -> list[Any]:
    """Results of ``executor.map`` in item order."""
    items = list(items)
    out: list[Any] = [None] * len(items)
    for i, result in executor.map(fn, items, shared):
        out[i] = result
    return out
