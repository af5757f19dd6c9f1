"""PairsTrading-v0 and the DQN stat-arb study: Engle-Granger, z-scores, accounting, splits."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env
from scipy import stats

import quantrl.envs  # noqa: F401  (registers the ids)
from quantrl.backtest.engine import run_weights
from quantrl.data import load_market
from quantrl.data.panel import Panel
from quantrl.envs.pairs import (
    PairsTradingEnv,
    ols_hedge,
    rank_pairs,
    rolling_zscore,
)
from quantrl.experiments.pairs_dqn import (
    CLAIMS,
    MARKET,
    PairsDQNExperiment,
    finite_sharpe,
    out_of_sample_pvalue,
    positions_to_weights,
    rollout_positions,
    selected_share,
    zscore_positions,
)

PAIR = {"pair": ("KO", "VZ"), "beta": 0.75}


def test_ols_hedge_matches_linregress() -> None:
    rng = np.random.default_rng(0)
    b = rng.normal(0, 1, 300).cumsum()
    a = 0.3 + 1.7 * b + rng.normal(0, 0.5, 300)
    beta, alpha = ols_hedge(a, b)
    ref = stats.linregress(b, a)
    assert beta == pytest.approx(ref.slope, rel=1e-10)
    assert alpha == pytest.approx(ref.intercept, rel=1e-8)


def test_rank_pairs_puts_the_planted_cointegrated_pair_first() -> None:
    rng = np.random.default_rng(2)
    n = 1000
    b = rng.normal(0, 0.01, n).cumsum()
    cols = {
        "A": 1.0 + 0.5 * b + rng.normal(0, 0.002, n),
        "B": 2.0 + b,
        "C": 3.0 + rng.normal(0, 0.01, n).cumsum(),
    }
    close = np.exp(np.column_stack(list(cols.values())))
    dates = np.datetime64("2020-01-01") + np.arange(n).astype("timedelta64[D]")
    fields = {k: close for k in ("open", "high", "low", "close")}
    fields["volume"] = np.ones_like(close)
    ranked = rank_pairs(Panel(dates, tuple(cols), fields))
    assert [(a, b) for a, b, _, _ in ranked][0] == ("A", "B")
    assert ranked[0][2] == pytest.approx(0.5, abs=0.02)
    assert ranked[0][3] < -3.34 < ranked[-1][3]  # MacKinnon's 5 % value for two variables


def test_rolling_zscore_matches_pandas_and_is_causal() -> None:
    rng = np.random.default_rng(3)
    s = rng.normal(0, 1, 200).cumsum()
    z = rolling_zscore(s, 20)
    ser = pd.Series(s)
    ref = (ser - ser.rolling(20).mean()) / ser.rolling(20).std(ddof=0)
    np.testing.assert_allclose(z, ref.to_numpy(), rtol=1e-7, atol=1e-9, equal_nan=True)
    s2 = s.copy()
    s2[150:] += 50
    np.testing.assert_array_equal(rolling_zscore(s2, 20)[:150], z[:150])


def test_zscore_rule_hand_case() -> None:
    z = np.array([np.nan, 0.0, 2.5, 1.0, 0.4, -0.1, -2.1, -1.0, 3.0, 0.2])
    np.testing.assert_array_equal(zscore_positions(z), [0, 0, -1, -1, 0, 0, 1, 1, 1, 0])


def test_env_passes_checker_and_registers() -> None:
    env = PairsTradingEnv("dow30", split="train", seed=0, **PAIR)
    check_env(env, skip_render_check=True)
    made = gym.make("quantrl/PairsTrading-v0", **PAIR)
    assert made.unwrapped.pair == ("KO", "VZ")


def test_env_accounting_matches_run_weights() -> None:
    env = PairsTradingEnv("dow30", split="test", episode_length=None, fees=0.002, **PAIR)
    rng = np.random.default_rng(4)
    acts = rng.integers(0, 3, env.panel.n_dates)
    pos = rollout_positions(env, lambda o, e: acts[e.t])
    first, last = env.first_row, env.last_row
    np.testing.assert_array_equal(pos[first:last], acts[first:last] - 1)
    assert (pos[:first] == 0).all() and np.isnan(pos[last:]).all()
    # replay the same episode for the env's final equity
    env.reset(seed=0)
    done, eq = False, 0.0
    while not done:
        _, _, te, tr, info = env.step(int(acts[env.t]))
        eq, done = info["equity"], te or tr
    res = run_weights(env.panel, positions_to_weights(env, pos), fees=0.002, execution="next_close")
    assert res.equity[-1] == pytest.approx(eq, rel=1e-10)


def test_hedge_ratio_and_train_test_windows_do_not_overlap() -> None:
    panel = load_market("dow30")
    env = PairsTradingEnv(panel, split="train", pair=("KO", "VZ"))
    test = PairsTradingEnv(panel, split="test", pair=("KO", "VZ"), episode_length=None)
    assert env.beta == test.beta  # estimated on the training rows in both
    assert env.panel.dates[-1] < np.datetime64("2019-01-01")
    assert test.panel.dates[test.first_row] >= np.datetime64("2021-01-01")
    # the hedge ratio ignores test prices
    fields = {k: np.array(v, copy=True) for k, v in panel.fields.items()}
    late = panel.dates >= np.datetime64("2019-01-01")
    for k in ("open", "high", "low", "close"):
        fields[k][late] *= 2.0
    from quantrl.data.panel import Panel

    perturbed = Panel(panel.dates, panel.symbols, fields)
    env2 = PairsTradingEnv(
        perturbed, split="train", pair=("KO", "VZ"), split_dates=("2019-01-01", "2021-01-01")
    )
    assert env2.beta == pytest.approx(env.beta, rel=1e-12)


def test_out_of_sample_pvalue_matches_statsmodels_coint_on_the_test_rows() -> None:
    from statsmodels.tsa.stattools import coint

    from quantrl.envs.core import fraction_split_dates

    panel = load_market(MARKET)
    dates = fraction_split_dates(panel)
    test = PairsTradingEnv(
        panel, split="test", split_dates=dates, episode_length=None, pair=("BTCUSD", "BTCUSDT")
    )
    close = np.log(np.asarray(test.panel["close"], dtype=np.float64)[test.first_row :])
    assert test.panel.dates[test.first_row] >= np.datetime64(dates[1])
    ref = coint(close[:, 0], close[:, 1])[1]
    assert out_of_sample_pvalue(test) == pytest.approx(ref, rel=1e-10)


def test_selected_share_counts_only_selected_pairs() -> None:
    assert selected_share(np.array([True, False, True]), [0.01, 0.01, 0.2]) == 0.5
    assert np.isnan(selected_share(np.array([False, False]), [0.01, 0.01]))


def test_finite_sharpe_counts_a_flat_policy_as_zero() -> None:
    assert finite_sharpe(float("nan")) == 0.0
    assert finite_sharpe(1.5) == 1.5


def test_claims_are_declared_with_settings() -> None:
    assert PairsDQNExperiment.claims is CLAIMS
    keys = {c.key for c in CLAIMS}
    assert {"dqn_sharpe_positive", "dqn_beats_zscore", "pairs_stay_cointegrated"} <= keys
    assert all(c.testable for c in CLAIMS if c.key != "stock_pairs")
    assert all(c.paper and c.ours and c.differs for c in CLAIMS)


@pytest.mark.slow
def test_fast_run_is_deterministic_and_measures_every_claim(tmp_path) -> None:
    from quantrl.experiments import run_experiment

    a = run_experiment("pairs_dqn", tmp_path / "a", fast=True, seed=0)
    b = run_experiment("pairs_dqn", tmp_path / "b", fast=True, seed=0)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.measurements, b.measurements)
    assert a.windows["train"][1] < a.windows["test"][0]
    named = {c.metric for c in CLAIMS if c.testable} | {c.baseline for c in CLAIMS if c.baseline}
    assert named <= set(a.measurements.columns)
    m = a.measurements.iloc[0]
    t = a.table
    assert m["dqn_sharpe"] == pytest.approx(t.loc[t.index.str.endswith("/ DQN"), "sharpe"].mean())
    rule = t.loc[t.index.str.endswith("/ z-score rule"), "sharpe"].mean()
    assert m["zscore_sharpe"] == pytest.approx(rule)
    assert set(a.verdicts.index) == {c.key for c in CLAIMS}
