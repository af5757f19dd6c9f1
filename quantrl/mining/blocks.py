"""Blocks of the pool's usable training dates and the purged cross-validation folds over them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantrl.data.folds import Fold
from quantrl.errors import ConfigError

__all__ = ["PoolFolds", "pool_folds"]


@dataclass(frozen=True)
class PoolFolds:
    """Cross-validation folds over the usable dates, as (blocks, dates) 0/1 row selectors."""

    parts: list[np.ndarray]  # usable date indices of each block
    held: np.ndarray  # (blocks, T): 1 on the block's dates
    purged: np.ndarray | None  # (blocks, T): 1 on usable dates within ``purge`` rows of it

    def fold_rows(self, dates_ok: np.ndarray) -> list[Fold]:
        """Per block: the usable rows its cross-validation fit uses (the other blocks minus the
        purged rows on each side of it) and the block's rows."""
        out = []
        for i, idx in enumerate(self.parts):
            fit = dates_ok & (self.held[i] == 0)
            if self.purged is not None:
                fit &= self.purged[i] == 0
            out.append(Fold(np.flatnonzero(fit).astype(np.int64), idx.astype(np.int64)))
        return out


def pool_folds(dates_ok: np.ndarray, blocks: int, purge: int) -> PoolFolds:
    """``blocks`` consecutive runs of the usable dates and, per block, the usable rows within
    ``purge`` rows of it on either side (left out of that fold's fit); a ConfigError when a
    fold would have no date left to fit on."""
    t = dates_ok.shape[0]
    parts = np.array_split(np.flatnonzero(dates_ok), blocks)
    held = np.zeros((len(parts), t))
    for i, idx in enumerate(parts):
        held[i, idx] = 1.0
    if blocks < 2 or purge == 0:
        return PoolFolds(parts, held, None)
    rows = np.arange(t)
    purged = np.zeros_like(held)
    for i, idx in enumerate(parts):
        if idx.size == 0:
            continue
        s, e = int(idx[0]), int(idx[-1])
        near = ((rows >= s - purge) & (rows < s)) | ((rows > e) & (rows <= e + purge))
        purged[i] = near & dates_ok
        if not (dates_ok.sum() - idx.size - purged[i].sum()) > 0:
            raise ConfigError(
                f"purge={purge} leaves no date to fit on for block rows {s}..{e} "
                f"(blocks={blocks}, {int(dates_ok.sum())} usable dates); lower purge or blocks"
            )
    return PoolFolds(parts, held, purged)
