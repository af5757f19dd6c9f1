"""Qlib's ``TopkDropoutStrategy`` on a (dates, symbols) score array, as target weights.

At each date with scores (``method_sell="bottom"``, ``method_buy="top"``, as Qlib's defaults):
``held`` are the names held, sorted by today's score (a held name without a score counts as the
worst); ``today`` are the best ``n_drop + topk - len(held)`` names not held; of the union sorted by
score, the held names among its worst ``n_drop`` are sold, and the best
``len(sold) + topk - len(held)`` of ``today`` are bought. A name is a candidate only where its score
is finite. A date whose scores are all missing changes nothing. Ties go to the earlier column.

Row t of the holdings is decided from the scores of row t only (the scores known at t's close);
``run_weights`` trades it at t+1. Qlib differs in timing (it trades at t's close on the score of
t-1) and in sizing: it buys each new name with an equal share of 95% of its cash and lets kept names
drift; ``rebalance="changes"`` (the default) follows that, buying each new name at ``1/topk`` of
equity and leaving kept names untraded, ``"full"`` resets every held name to ``1/len(held)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from quantrl.errors import ConfigError

__all__ = ["REBALANCE_MODES", "topk_dropout", "topk_dropout_weights"]

Rebalance = Literal["changes", "full"]
REBALANCE_MODES: tuple[str, ...] = ("changes", "full")


def _check(scores: np.ndarray, topk: int, n_drop: int) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ConfigError(f"scores must be a (dates, symbols) array, got shape {s.shape}")
    if int(topk) < 1:
        raise ConfigError(f"topk must be >= 1, got {topk}")
    if not 0 <= int(n_drop) <= int(topk):
        raise ConfigError(f"n_drop must be in [0, topk={topk}], got {n_drop}")
    return s


def _by_score(names: np.ndarray, score: np.ndarray) -> np.ndarray:
    """``names`` sorted by descending score, missing scores last, ties by column (stable)."""
    key = np.where(np.isfinite(score[names]), -score[names], np.inf)
    return names[np.argsort(key, kind="stable")]


def _step(held: np.ndarray, score: np.ndarray, topk: int, n_drop: int) -> np.ndarray:
    """Next holdings (bool over symbols) from the current ones and one date's scores."""
    last = _by_score(np.flatnonzero(held), score)
    candidates = np.flatnonzero(np.isfinite(score) & ~held)
    today = _by_score(candidates, score)[: max(n_drop + topk - last.size, 0)]
    comb = _by_score(np.concatenate([last, today]), score)
    worst = comb[comb.size - n_drop :] if n_drop else comb[:0]
    sell = last[np.isin(last, worst)]
    buy = today[: max(sell.size + topk - last.size, 0)]
    nxt = held.copy()
    nxt[sell] = False
    nxt[buy] = True
    return nxt


def topk_dropout(scores: np.ndarray, topk: int = 50, n_drop: int = 5) -> np.ndarray:
    """(dates, symbols) bool: the names held after each date's decision (see the module doc)."""
    s = _check(scores, topk, n_drop)
    held = np.zeros(s.shape[1], dtype=bool)
    out = np.zeros(s.shape, dtype=bool)
    for t in range(s.shape[0]):
        if np.isfinite(s[t]).any():
            held = _step(held, s[t], int(topk), int(n_drop))
        out[t] = held
    return out


def topk_dropout_weights(
    scores: np.ndarray, topk: int = 50, n_drop: int = 5, *, rebalance: Rebalance = "changes"
) -> np.ndarray:
    """Target weights (dates, symbols) for ``run_weights`` from ``topk_dropout`` holdings.

    ``"changes"``: a name bought gets ``1/topk``, a name sold 0, a kept name NaN (no trade) and
    every other name 0; ``"full"``: every held name ``1/len(held)``, others 0. A date without
    scores is all NaN (no trade).
    """
    if rebalance not in REBALANCE_MODES:
        raise ConfigError(
            f"rebalance must be one of {', '.join(REBALANCE_MODES)}, got {rebalance!r}"
        )
    s = _check(scores, topk, n_drop)
    held = topk_dropout(s, topk, n_drop)
    decided = np.isfinite(s).any(axis=1)
    weights = np.zeros(s.shape)
    if rebalance == "full":
        count = held.sum(axis=1, keepdims=True)
        np.divide(1.0, count, out=weights, where=held & (count > 0))
    else:
        before = np.vstack([np.zeros((1, s.shape[1]), dtype=bool), held[:-1]])
        weights[held & ~before] = 1.0 / int(topk)
        weights[held & before] = np.nan
    weights[~decided] = np.nan
    return weights
