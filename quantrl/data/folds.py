"""Row folds for out-of-sample evaluation: walk-forward windows and purged k-fold.

Rows are positions 0..n_rows-1 in time order. A label of horizon h at row t spans rows
[t, t + h] (``Panel.forward_returns(h)`` uses the prices of t and t + h), so training rows next
to a test block can share information with it; these functions keep such rows out of training.

* ``walk_forward_rows``: a training window, ``embargo`` rows left out, then a test window; the
  next fold moves ``step`` rows on (``step >= test``, so no row is tested twice). A training
  label window never reaches a test row when ``embargo >= h``.
* ``purged_kfold_rows`` (Lopez de Prado, *Advances in Financial Machine Learning*, ch. 7): k
  contiguous test blocks; training rows are all others, minus those whose label window
  [i, i + h] touches a test block's label span [s, e + h] (the purge: rows s - h .. e + h),
  minus ``embargo`` further rows after that span (serial correlation beyond the label).

Folds are ``Fold(train, test)`` named tuples of sorted int64 row arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from quantrl.errors import ConfigError

__all__ = ["Fold", "purged_kfold_rows", "walk_forward_rows"]


class Fold(NamedTuple):
    """Training and test rows of one fold (sorted int64 arrays)."""

    train: np.ndarray
    test: np.ndarray


def _count(value: object, name: str, minimum: int) -> int:
    """An integer >= minimum, or ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def walk_forward_rows(
    n_rows: int,
    train: int,
    test: int,
    step: int | None = None,
    embargo: int = 0,
    expanding: bool = False,
) -> list[Fold]:
    """Walk-forward folds over ``n_rows`` rows.

    Fold i tests rows [a, a + test) with a = train + embargo + i * step; it trains on the
    ``train`` rows ending ``embargo`` rows before a (``expanding=True``: on every row from 0 up
    to there). ``step`` defaults to ``test`` (back-to-back test windows) and may not be smaller.
    Only whole test windows are made: the last ``< step`` rows may stay untested. A ConfigError
    when not even one fold fits.
    """
    n = _count(n_rows, "n_rows", 0)
    train = _count(train, "train", 1)
    test = _count(test, "test", 1)
    step = test if step is None else _count(step, "step", 1)
    embargo = _count(embargo, "embargo", 0)
    if step < test:
        raise ConfigError(f"step={step} < test={test} would test some rows twice")
    first = train + embargo
    if first + test > n:
        raise ConfigError(
            f"{n} rows cannot hold one fold of train={train} + embargo={embargo} + test={test}"
        )
    folds = []
    for a in range(first, n - test + 1, step):
        end = a - embargo
        start = 0 if expanding else end - train
        folds.append(
            Fold(np.arange(start, end, dtype=np.int64), np.arange(a, a + test, dtype=np.int64))
        )
    return folds


def purged_kfold_rows(n_rows: int, k: int, horizon: int, embargo: int = 0) -> list[Fold]:
    """Purged k-fold: k contiguous test blocks, training rows purged and embargoed around each.

    Test blocks are ``numpy.array_split`` of the rows (sizes differ by at most one). For a block
    [s, e], training excludes rows s - horizon .. e + horizon + embargo: no training label
    window [i, i + horizon] touches a test row or a test label window, and ``embargo`` more rows
    after them are dropped. A ConfigError when a fold would have no training row.
    """
    n = _count(n_rows, "n_rows", 0)
    k = _count(k, "k", 2)
    horizon = _count(horizon, "horizon", 0)
    embargo = _count(embargo, "embargo", 0)
    if n < k:
        raise ConfigError(f"{n} rows cannot be cut into k={k} test blocks")
    rows = np.arange(n, dtype=np.int64)
    folds = []
    for block in np.array_split(rows, k):
        s, e = int(block[0]), int(block[-1])
        keep = (rows < s - horizon) | (rows > e + horizon + embargo)
        if not keep.any():
            raise ConfigError(
                f"test block {s}..{e} leaves no training row (n_rows={n}, k={k}, "
                f"horizon={horizon}, embargo={embargo})"
            )
        folds.append(Fold(rows[keep], block.copy()))
    return folds
