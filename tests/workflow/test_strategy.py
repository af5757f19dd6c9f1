"""Top-k dropout: a hand-worked example, Qlib's pandas algorithm on random scores, weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl import ConfigError
from quantrl.workflow import topk_dropout, topk_dropout_weights

NAN = np.nan
SYMBOLS = ("A", "B", "C", "D", "E")
# topk = 2, n_drop = 1; the comments give the held set after each date and why
SCORES = np.array(
    [
        [5, 4, 3, 2, 1],  # start: buy the best two -> {A, B}
        [1, 4, 5, 3, 2],  # C beats the worst held (A) -> {B, C}
        [5, 4.5, 4, 3, 2],  # A beats the worst held (C) -> {A, B}
        [NAN, NAN, NAN, NAN, NAN],  # no scores: nothing changes -> {A, B}
        [NAN, 1, 0, 3, 2],  # A has no score, so it is the worst -> {B, D}
        [1, 10, 2, 9, 3],  # the held names beat every candidate -> {B, D}
    ]
)
EXPECTED = [{"A", "B"}, {"B", "C"}, {"A", "B"}, {"A", "B"}, {"B", "D"}, {"B", "D"}]


def _held(mask: np.ndarray) -> list[set[str]]:
    return [{SYMBOLS[j] for j in np.flatnonzero(row)} for row in mask]


def test_hand_worked_example():
    assert _held(topk_dropout(SCORES, topk=2, n_drop=1)) == EXPECTED


def test_weights_changes_and_full():
    w = topk_dropout_weights(SCORES, topk=2, n_drop=1)
    expected = np.array(
        [
            [0.5, 0.5, 0, 0, 0],  # two buys at 1/topk
            [0, NAN, 0.5, 0, 0],  # A sold, B kept (no trade), C bought
            [0.5, NAN, 0, 0, 0],
            [NAN] * 5,  # no decision
            [0, NAN, 0, 0.5, 0],
            [0, NAN, 0, NAN, 0],
        ]
    )
    np.testing.assert_array_equal(w, expected)
    full = topk_dropout_weights(SCORES, topk=2, n_drop=1, rebalance="full")
    held = topk_dropout(SCORES, 2, 1)
    np.testing.assert_array_equal(full[[0, 1, 2, 4, 5]], np.where(held, 0.5, 0.0)[[0, 1, 2, 4, 5]])
    assert np.isnan(full[3]).all()


def _qlib_reference(scores: pd.DataFrame, topk: int, n_drop: int) -> list[set[str]]:
    """Qlib's TopkDropoutStrategy.generate_trade_decision (bottom/top), written with pandas."""
    held: list[str] = []
    out = []
    for _, row in scores.iterrows():
        pred = row.dropna()
        if not pred.empty:
            last = pred.reindex(held).sort_values(ascending=False).index
            rest = pred[~pred.index.isin(last)].sort_values(ascending=False).index
            today = rest[: n_drop + topk - len(last)]
            comb = pred.reindex(last.union(pd.Index(today))).sort_values(ascending=False).index
            sell = last[last.isin(comb[-n_drop:])]
            buy = today[: len(sell) + topk - len(last)]
            held = [h for h in held if h not in set(sell)] + list(buy)
        out.append(set(held))
    return out


@pytest.mark.parametrize(("topk", "n_drop"), [(5, 1), (8, 3), (3, 3)])
def test_matches_qlib_algorithm_on_random_scores(rng, topk, n_drop):
    scores = rng.normal(size=(60, 25))
    scores[rng.random(scores.shape) < 0.1] = np.nan  # names without a bar
    scores[17] = np.nan
    symbols = [f"S{j:02d}" for j in range(25)]
    ref = _qlib_reference(pd.DataFrame(scores, columns=symbols), topk, n_drop)
    got = topk_dropout(scores, topk, n_drop)
    assert [{symbols[j] for j in np.flatnonzero(r)} for r in got] == ref
    assert (got.sum(axis=1) <= topk).all() and got.sum(axis=1).max() == topk
    # at most n_drop names change a day once the book is full
    changes = (got[1:] & ~got[:-1]).sum(axis=1)
    assert changes[got[:-1].sum(axis=1) == topk].max() <= n_drop


def test_decisions_use_only_their_own_row(rng):
    scores = rng.normal(size=(40, 12))
    base = topk_dropout_weights(scores, 4, 2)
    later = scores.copy()
    later[25:] = rng.normal(size=later[25:].shape)
    np.testing.assert_array_equal(topk_dropout_weights(later, 4, 2)[:25], base[:25])


def test_bad_arguments():
    with pytest.raises(ConfigError, match="topk"):
        topk_dropout(SCORES, topk=0)
    with pytest.raises(ConfigError, match="n_drop"):
        topk_dropout(SCORES, topk=2, n_drop=3)
    with pytest.raises(ConfigError, match="rebalance"):
        topk_dropout_weights(SCORES, 2, 1, rebalance="weekly")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="dates, symbols"):
        topk_dropout(SCORES[0], 2, 1)
