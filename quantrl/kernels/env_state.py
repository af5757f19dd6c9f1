"""Named state records of the environment kernels: parameters, per-env scalars, step outputs.

Numpy structured dtypes (vectorbt's way of passing state to numba): a kernel reads
``params[0].fees`` or ``state[e].equity`` by name, and unboxing a record array costs what any
array costs. Adding a parameter means adding a field to ``PARAMS_DTYPE`` and reading it where it
is used; no kernel signature changes.

* ``params``: ``PARAMS_DTYPE`` (1,) -- costs, action mapping, reward and model settings;
* ``state``: ``STATE_DTYPE`` (E,) -- one record of scalars per environment;
* ``out``: ``OUT_DTYPE`` (E,) -- what one step returns to Python (all float64, so the Python side
  reads a row as a plain float vector through ``out.view(np.float64)``).

The per-asset book stays a float64 array (E, ``BOOK_ROWS``, N) with named rows, because the
account kernel works on contiguous per-asset rows (positions, debts, marks, targets, scratch).
The arrays travel to the kernels in two named tuples, ``Market`` (read-only data) and
``Buffers`` (the per-environment state); numba unboxes them as cheaply as separate arguments.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from quantrl.kernels.portfolio import DEFAULT_MIN_SIZE, WORK_ROWS

PARAMS_DTYPE = np.dtype(
    [
        ("fees", np.float64),  # fraction of traded notional
        ("fixed_fees", np.float64),  # per order
        ("slippage", np.float64),  # fraction of price
        ("min_size", np.float64),  # smallest fill in units
        ("threshold", np.float64),  # rebalance threshold (weight)
        ("init_cash", np.float64),
        ("max_leverage", np.float64),  # gross weight cap of the action mapping
        ("temperature", np.float64),  # softmax temperature
        ("eta", np.float64),  # differential Sharpe EMA rate
        ("lam", np.float64),  # risk-penalty weight
        ("gamma", np.float64),  # ESG grant rate
        ("theta", np.float64),  # ESG tax rate
        ("impact_coef", np.float64),
        ("max_impact", np.float64),
        ("mode", np.int64),  # action mapping, MODE_*
        ("reward", np.int64),  # reward kind, REWARD_*
        ("window", np.int64),  # rows of window features in the observation
        ("esg", np.int64),  # 1: ESG grant / tax on
        ("impact", np.int64),  # impact model, IMPACT_*
    ]
)
"""Parameters of one environment (a (1,) record array shared by a batch)."""

STATE_DTYPE = np.dtype(
    [
        ("t", np.int64),  # current row (the last bar whose close the agent has seen)
        ("end", np.int64),  # last row of the episode
        ("start", np.int64),  # first row of the episode
        ("count", np.int64),  # steps taken in the episode
        ("ring_pos", np.int64),  # next write position in the return ring
        ("equity", np.float64),  # equity at the close of row t
        ("dsr_a", np.float64),  # differential Sharpe: EMA of returns
        ("dsr_b", np.float64),  # differential Sharpe: EMA of squared returns
    ]
)
"""Scalar state of one environment."""

OUT_DTYPE = np.dtype(
    [
        ("reward", np.float64),
        ("equity", np.float64),
        ("fees", np.float64),  # paid this step
        ("log_return", np.float64),
        ("turnover", np.float64),  # traded notional over the previous equity
        ("done", np.float64),  # 0 running, 1 terminated, 2 truncated
        ("row", np.float64),  # row now observed
        ("extra", np.float64),  # ESG grant minus tax, or HFT impact cost
    ]
)
"""What one step reports (float64 fields only)."""

OUT_FIELDS = OUT_DTYPE.names
"""Names of the ``OUT_DTYPE`` fields, in order."""

# book rows
POS = 0  # units held
DEBT = 1  # entry value of short positions
MARK = 2  # latest known price
TGT = 3  # risky target weights of the last action
WORK = 4  # first scratch row of rebalance_bar_nb
BOOK_ROWS = WORK + WORK_ROWS

# action modes
MODE_SOFTMAX = 0
MODE_LONG_SHORT = 1
MODE_WEIGHTS = 2

# reward kinds
REWARD_LOG = 0
REWARD_DSR = 1
REWARD_SHARPE = 2
REWARD_RISK = 3

# impact models
IMPACT_NONE = 0
IMPACT_LINEAR = 1
IMPACT_SQRT = 2

# step status
OK = 0
BAD_ACTION = 1  # non-finite action values
BAD_SCALE = 2  # action values so large that their gross weight overflows
DONE = 4  # no running episode


class Market(NamedTuple):
    """Read-only arrays of a step kernel (rows = bars of the split panel)."""

    exec_prices: np.ndarray
    """float64 (T, N): fill prices (the open or the close)."""
    close: np.ndarray
    """float64 (T, N): closes (marks)."""
    winfeat: np.ndarray
    """float32 (Fw, T, N): window features."""
    ptfeat: np.ndarray
    """float32 (Fp, T, N): point features."""
    extra: np.ndarray
    """float64 2-D: the kernel's own data -- ESG quality (T, N) for the portfolio kernel
    (``params.esg``), mean volume and log-return std (2, T) for the HFT kernel."""


class Buffers(NamedTuple):
    """Per-environment state of E environments (one row each)."""

    account: np.ndarray
    """float64 (E, 2): cash, free cash."""
    book: np.ndarray
    """float64 (E, BOOK_ROWS, N): rows POS, DEBT, MARK, TGT, then scratch."""
    state: np.ndarray
    """STATE_DTYPE (E,)."""
    ring: np.ndarray
    """float64 (E, K): the last K simple returns of the episode."""
    trades: np.ndarray
    """TRADE_DTYPE (E, N): one bar's fills."""
    obs: np.ndarray
    """float32 (E, D): the observation."""
    out: np.ndarray
    """OUT_DTYPE (E,): what the last step reported."""


def new_params() -> np.ndarray:
    """A zeroed (1,) parameter record with the default minimum fill size."""
    params = np.zeros(1, dtype=PARAMS_DTYPE)
    params[0]["min_size"] = DEFAULT_MIN_SIZE
    return params
