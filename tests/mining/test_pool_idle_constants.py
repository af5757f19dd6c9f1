"""The pool refuses a candidate with an idle constant, and only then; the setting round-trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

import quantrl
from quantrl.alpha import evaluate
from quantrl.mining.pool import AlphaPool
from quantrl.stats.ic import ic_series

#: 30 * (a ratio of lows to the high) - 1: the ranks of the ratio whatever the 30
IDLE = "Div(Sub(Min(Max(Mul($low,30),20),10),$high),$high)"
#: the same ratio written without the constant
PLAIN = "Div(Min(Max($low,20),10),$high)"


@pytest.fixture(scope="module")
def panel():
    """50 S&P 500 stocks x ~300 days."""
    p = quantrl.load_market("sp500", start="2015-01-01", end="2016-03-31")
    return p.select(list(p.symbols[:50]))


def _label(panel, formula: str) -> np.ndarray:
    """A label the formula predicts: its own values plus noise, so it gains on its own."""
    values = np.asarray(evaluate(formula, panel))
    noise = np.random.default_rng(0).normal(size=values.shape) * np.nanstd(values)
    return values + noise


def test_idle_constant_is_refused_and_the_plain_formula_accepted(panel):
    label = _label(panel, PLAIN)
    assert np.nanmean(ic_series(np.asarray(evaluate(IDLE, panel)), label)) > 0.1  # it would gain
    kept = AlphaPool(3, transform="rank", idle_constants=False).bind(panel, label).try_add(IDLE)
    assert (kept.accepted, kept.reason) == (True, "accepted")
    pool = AlphaPool(3, transform="rank").bind(panel, label)  # the default refuses
    refused = pool.try_add(IDLE)
    assert (refused.accepted, refused.reason) == (False, "idle constant")
    assert refused.gain == pytest.approx(kept.gain, abs=1e-12)  # judged on the same gain
    assert len(pool) == 0 and pool.objective == 0.0  # the pool is left as it was
    assert pool.try_add(PLAIN).accepted
    # scoring every 5th date, the probe compares every date's cells and still refuses it
    stepped = AlphaPool(3, transform="rank", date_step=5).bind(panel, label).try_add(IDLE)
    assert stepped.reason == "idle constant"


def test_an_idle_constant_earns_no_reward(panel):
    """The miner is paid nothing for a formula the pool refuses for an idle constant, and its
    marginal gain when the refusal is off."""
    from quantrl.mining import MiningTask

    label = _label(panel, PLAIN)
    pool = AlphaPool(3, transform="rank").bind(panel, label)
    reward, res = MiningTask(panel, label, pool, reward_basis="marginal").offer(IDLE)
    assert (res.reason, reward) == ("idle constant", 0.0)
    kept = AlphaPool(3, transform="rank", idle_constants=False).bind(panel, label)
    reward, res = MiningTask(panel, label, kept, reward_basis="marginal").offer(IDLE)
    assert res.accepted and reward == pytest.approx(res.marginal_gain) and reward > 0


def test_returns_and_guards_are_not_idle_constants(panel):
    """A return's 1 and a working guard are how those are written: nothing is refused."""
    for formula in ("Div($close,Ref($close,5))-1", "Corr($close,Log(Add($volume,1)),10)"):
        label = _label(panel, formula)
        assert AlphaPool(3, transform="rank").bind(panel, label).try_add(formula).accepted


def test_setting_round_trips_and_older_files_keep_constants(panel, tmp_path):
    path = tmp_path / "pool.json"
    AlphaPool(3, idle_constants=False).bind(panel, _label(panel, PLAIN)).save(path)
    assert AlphaPool.load(path).idle_constants is False
    AlphaPool(3).bind(panel, _label(panel, PLAIN)).save(path)
    assert AlphaPool.load(path).idle_constants is True
    data = json.loads(path.read_text())
    del data["idle_constants"]  # a pool saved before the rule existed accepts as it did
    path.write_text(json.dumps(data))
    assert AlphaPool.load(path).idle_constants is False
