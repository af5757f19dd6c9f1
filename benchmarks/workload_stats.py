"""Workload D: total return, Sharpe, Sortino, max drawdown and Calmar on 500 x 5,000 returns.

quantrl (``quantrl.stats.performance``, numba kernels) against empyrical-reloaded's
vectorised 2-D calls and vectorbt's returns accessor, on the same ``make_returns()`` array in the
same process. empyrical's ``calmar_ratio`` only takes one series, so its 2-D Calmar is empyrical's
own rule applied to its vectorised ``annual_return`` and ``max_drawdown``. Values are asserted
equal (rtol 1e-9) before any ratio is printed. vectorbt measures drawdowns from the first bar's
value rather than from the starting capital, so only its total return, Sharpe and Sortino are
compared with quantrl's; its max drawdown and Calmar are timed but follow that other convention.
Peak memory is what tracemalloc sees: numpy allocations, not numba's own (quantrl's kernels only
allocate (K,) vectors; vectorbt's numba-side allocations are not counted either).

Run: ``python benchmarks/workload_stats.py``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import median_time, peak_memory, print_table  # noqa: E402
from benchmarks.inputs import make_returns  # noqa: E402
from quantrl.stats import performance as perf  # noqa: E402

STATS = ("total_return", "sharpe", "sortino", "max_drawdown", "calmar")


def _quantrl(r: np.ndarray) -> dict[str, np.ndarray]:
    """The five statistics with quantrl, one public call each."""
    return {
        "total_return": perf.total_return(r),
        "sharpe": perf.sharpe_ratio(r),
        "sortino": perf.sortino_ratio(r),
        "max_drawdown": perf.max_drawdown(r),
        "calmar": perf.calmar_ratio(r),
    }


def _empyrical(r: np.ndarray) -> dict[str, np.ndarray]:
    """The five statistics with empyrical's vectorised 2-D calls."""
    import empyrical as ep

    max_dd = ep.max_drawdown(r)
    annual = ep.annual_return(r)
    with np.errstate(invalid="ignore", divide="ignore"):
        calmar = np.where(ep.max_drawdown(r) < 0, annual / np.abs(max_dd), np.nan)
    calmar[np.isinf(calmar)] = np.nan
    return {
        "total_return": ep.cum_returns_final(r),
        "sharpe": ep.sharpe_ratio(r),
        "sortino": ep.sortino_ratio(r),
        "max_drawdown": max_dd,
        "calmar": calmar,
    }


def _vectorbt_accessor(frame: pd.DataFrame) -> Any:
    """vectorbt's returns accessor with a 252-bar year."""
    return frame.vbt.returns(freq="1D", year_freq="252D")


def _vectorbt(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The five statistics with vectorbt's returns accessor."""
    acc = _vectorbt_accessor(frame)
    return {
        "total_return": acc.total().to_numpy(),
        "sharpe": acc.sharpe_ratio().to_numpy(),
        "sortino": acc.sortino_ratio().to_numpy(),
        "max_drawdown": acc.max_drawdown().to_numpy(),
        "calmar": acc.calmar_ratio().to_numpy(),
    }


def _assert_equal(ours: dict, theirs: dict, keys: tuple[str, ...], peer: str) -> None:
    """Fail loudly if any compared statistic differs by more than 1e-9 relative."""
    for key in keys:
        if not np.allclose(ours[key], theirs[key], rtol=1e-9, atol=0.0, equal_nan=True):
            worst = np.nanmax(np.abs(ours[key] / theirs[key] - 1.0))
            raise AssertionError(f"{key}: quantrl and {peer} differ (max rel {worst:.3e})")


def run_workload_d(repeats: int = 5) -> list[dict]:
    """Time workload D for quantrl and its peers; return one table row per peer."""
    import vectorbt  # noqa: F401  (registers the .vbt accessor)

    r = make_returns(n_series=500, n_days=5000, seed=11)
    frame = pd.DataFrame(r, index=pd.date_range("2000-01-03", periods=r.shape[0], freq="D"))

    ours = _quantrl(r)  # warm-up: loads the compiled kernels before memory is traced
    q_peak, _ = peak_memory(lambda: _quantrl(r))

    rows = []
    peers = (
        ("empyrical 2-D", lambda: _empyrical(r), STATS),
        ("vectorbt accessor", lambda: _vectorbt(frame), ("total_return", "sharpe", "sortino")),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn, checked in peers:
            # time quantrl next to each peer: load on a shared machine drifts between runs
            q_time, _ = median_time(lambda: _quantrl(r), repeats=repeats)
            p_time, theirs = median_time(fn, repeats=repeats)
            p_peak, _ = peak_memory(fn)
            _assert_equal(ours, theirs, checked, name)
            rows.append(
                {
                    "workload": "D 500x5000",
                    "peer": name,
                    "quantrl_s": q_time,
                    "peer_s": p_time,
                    "ratio": p_time / q_time,
                    "quantrl_peak_mb": q_peak / 2**20,
                    "peer_peak_mb": p_peak / 2**20,
                    "equal": ",".join(checked),
                }
            )
    return rows


if __name__ == "__main__":
    print_table(
        "Workload D: performance statistics (ratio = peer_time / quantrl_time)", run_workload_d()
    )
