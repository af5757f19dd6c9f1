"""Ensembles: hand cases and no look-ahead."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl import ConfigError
from quantrl.backtest.ensemble import combine_returns


@pytest.fixture
def members(rng):
    return {
        "calm": rng.normal(0.0005, 0.005, 300),
        "wild": rng.normal(0.0010, 0.02, 300),
        "bad": rng.normal(-0.001, 0.01, 300),
    }


def test_equal_is_the_mean(members):
    res = combine_returns(members, "equal")
    np.testing.assert_allclose(res.returns, np.mean(list(members.values()), axis=0))


def test_inverse_vol_matches_a_loop(members):
    res = combine_returns(members, "inverse_vol", window=20)
    r = np.stack(list(members.values()), axis=1)
    t = 150
    inv = 1 / r[t - 20 : t].std(axis=0, ddof=1)
    np.testing.assert_allclose(res.allocation[t], inv / inv.sum())
    assert res.returns[t] == pytest.approx((inv / inv.sum()) @ r[t])
    np.testing.assert_allclose(res.allocation[:20], 1 / 3)


def test_best_sharpe_picks_the_best_past_member(members):
    res = combine_returns(members, "best_sharpe", window=50)
    r = np.stack(list(members.values()), axis=1)
    for start in range(50, 300, 50):
        past = r[start - 50 : start]
        best = np.argmax(past.mean(0) / past.std(0, ddof=1))
        assert res.allocation[start, best] == 1.0


@pytest.mark.parametrize("method", ["equal", "inverse_vol", "best_sharpe"])
def test_no_look_ahead(members, method):
    base = combine_returns(members, method, window=30)
    t = 170
    moved = {k: np.concatenate([v[: t + 1], v[t + 1 :] * -5 + 0.3]) for k, v in members.items()}
    other = combine_returns(moved, method, window=30)
    np.testing.assert_array_equal(other.allocation[: t + 1], base.allocation[: t + 1])
    np.testing.assert_array_equal(other.returns[: t + 1], base.returns[: t + 1])


def test_bad_input(members):
    with pytest.raises(ConfigError, match="lengths"):
        combine_returns({"a": np.zeros(5), "b": np.zeros(6)})
    with pytest.raises(ConfigError, match="method"):
        combine_returns(members, "magic")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least one"):
        combine_returns({})
