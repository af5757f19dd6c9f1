"""Local executor: results in item order, shared input sent once per worker, dead workers retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantrl.errors import ConfigError
from quantrl.executors import LocalExecutor, TaskError, make_executor, run_all
from tests.executors import tasks


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_item_order(workers: int) -> None:
    ex = LocalExecutor(workers)
    out = run_all(ex, tasks.square_plus_shared, range(6), {"offset": 10})
    assert [v for v, _ in out] == [i * i + 10 for i in range(6)]
    pids = {pid for _, pid in out}
    assert len(pids) <= workers  # every task ran in one of the pool's processes


def test_a_dead_worker_is_replaced_and_its_task_rerun_once(tmp_path: Path) -> None:
    ex = LocalExecutor(2, max_retries=2)
    seen = list(ex.map(tasks.die_once, range(5), {"dir": str(tmp_path)}))
    indices = [i for i, _ in seen]
    assert sorted(indices) == list(range(5))  # each result exactly once: nothing lost or doubled
    assert dict(seen) == {i: i * i for i in range(5)}
    assert (tmp_path / "attempt-2").exists()


def test_gives_up_after_max_retries(tmp_path: Path) -> None:
    ex = LocalExecutor(2, max_retries=1)
    with pytest.raises(TaskError, match="died 2 times"):
        run_all(ex, tasks.always_die, range(2), {})


@pytest.mark.parametrize("workers", [1, 2])
def test_an_exception_in_the_task_names_the_item(workers: int) -> None:
    with pytest.raises(TaskError, match=r"task 1 \(1\) failed: ValueError\('bad item'\)"):
        run_all(LocalExecutor(workers), tasks.raise_value_error, range(3), None)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="workers"):
        LocalExecutor(0)
    with pytest.raises(ConfigError, match="max_retries"):
        LocalExecutor(2, max_retries=-1)
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("dask")
    with pytest.raises(ConfigError, match="address"):
        make_executor("local", address="auto")
