"""Train -> save -> load -> evaluate round trip, data guards, and parity with the backtester."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantrl.agents import evaluate_agent, load, make_agent, read_meta, save, train_agent
from quantrl.agents.evaluate import PolicyRunner, rollout
from quantrl.agents.persist import data_hash
from quantrl.backtest import run_weights
from quantrl.envs import PortfolioEnv
from quantrl.errors import ConfigError, DataError

ENV_KW = {"window": 5, "vol_window": 5, "episode_length": 40}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synth, split_dates):
    """A PPO agent trained briefly on the synthetic panel and saved to a run folder."""
    out = tmp_path_factory.mktemp("runs") / "ppo"
    outcome = train_agent(
        "quantrl/Portfolio-v0",
        algo="ppo",
        timesteps=256,
        market=synth,
        split_dates=split_dates,
        env_kwargs=ENV_KW,
        out=out,
        algo_kwargs={"n_steps": 64},
    )
    return outcome


def _test_env(panel, split_dates, **kw):
    return PortfolioEnv(
        panel,
        split="test",
        split_dates=split_dates,
        window=5,
        vol_window=5,
        episode_length=None,
        **kw,
    )


def test_round_trip_gives_identical_test_equity(trained, synth, split_dates):
    direct = evaluate_agent(trained.model, _test_env(synth, split_dates))
    from_run = evaluate_agent(None, trained.run_path, split="test", market=synth)
    loaded = load(trained.run_path)
    again = evaluate_agent(loaded.model, _test_env(synth, split_dates))
    np.testing.assert_array_equal(direct.equity, from_run.equity)
    np.testing.assert_array_equal(direct.equity, again.equity)
    np.testing.assert_array_equal(direct.positions, from_run.positions)
    # the whole test split is covered: from the first decision row to the last row
    env = _test_env(synth, split_dates)
    assert direct.n_bars == env.last_row - env.first_row + 1
    assert direct.dates[-1] == synth.dates[-1]
    assert direct.stats()["Total return"] == pytest.approx(direct.total_return)


def test_meta_records_env_universe_and_hash(trained, synth, split_dates):
    meta = read_meta(trained.run_path)
    raw = json.loads((trained.run_path / "meta.json").read_text())
    assert raw["env_id"] == "quantrl/Portfolio-v0"
    assert meta.algo == "ppo"
    assert meta.symbols == synth.symbols
    assert meta.split_dates == split_dates
    assert meta.env_kwargs["window"] == 5
    assert meta.n_dates == synth.n_dates
    assert meta.data_hash == data_hash(synth)
    assert (trained.run_path / "model.safetensors").stat().st_size > 0
    # the hash is sensitive to the closes, the dates and the symbols
    assert data_hash(synth.select(list(reversed(synth.symbols)))) != meta.data_hash


def test_other_universe_or_data_is_refused(trained, synth, split_dates, perturb):
    fewer = synth.select(list(synth.symbols[:3]))
    with pytest.raises(DataError, match="asset universe"):
        evaluate_agent(None, trained.run_path, market=fewer)
    with pytest.raises(DataError, match="asset universe"):
        load(trained.run_path, env=_test_env(fewer, split_dates))
    reordered = synth.select(list(reversed(synth.symbols)))
    with pytest.raises(DataError, match="asset universe"):
        evaluate_agent(None, trained.run_path, market=reordered)
    changed = perturb(synth, 250)
    with pytest.raises(DataError, match="differ from the data"):
        evaluate_agent(None, trained.run_path, market=changed)
    # explicitly allowed: runs on the changed data
    res = evaluate_agent(None, trained.run_path, market=changed, check_hash=False)
    assert np.isfinite(res.equity).all()
    # same universe, other observation shape
    with pytest.raises(ConfigError, match="observation"):
        load(trained.run_path, env=PortfolioEnv(synth, split="all", window=7, vol_window=5))


def test_missing_or_corrupt_run_folder(tmp_path, trained):
    with pytest.raises(ConfigError, match="meta.json"):
        load(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text((trained.run_path / "meta.json").read_text())
    with pytest.raises(ConfigError, match="has no model.safetensors"):
        load(bad)
    (bad / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="does not match the sha256"):
        load(bad)


def test_env_equity_equals_independent_replay(trained, synth, split_dates):
    """Reference: step the env by hand, map actions to weights with numpy, run_weights them."""
    model = trained.model
    env = _test_env(synth, split_dates)
    obs, _ = env.reset(options={"start": env.first_row})
    actions, equity = [], [1e6]
    done = False
    while not done:
        a, _ = model.predict(obs, deterministic=True)
        actions.append(np.asarray(a, dtype=np.float64))
        obs, _, term, trunc, info = env.step(a)
        equity.append(info["equity"])
        done = term or trunc
    acts = np.array(actions)
    scores = np.exp(5.0 * (acts - acts.max(axis=1, keepdims=True)))  # temperature 5
    weights = scores / scores.sum(axis=1, keepdims=True)
    targets = np.vstack([weights[:, :-1], np.full(synth.n_symbols, np.nan)])
    seg = env.panel.slice(env.panel.dates[env.first_row], None)
    ref = run_weights(seg, targets, fees=0.001)
    res = evaluate_agent(model, _test_env(synth, split_dates))
    np.testing.assert_allclose(res.equity, np.array(equity), rtol=1e-12)
    np.testing.assert_allclose(res.equity, ref.equity, rtol=1e-9)
    assert res.trades.shape == ref.trades.shape


def test_trajectory_result_matches_backtest(trained, synth, split_dates):
    """The env-trajectory builder (used for HFT/ESG) agrees with run_weights on Portfolio-v0."""
    from quantrl.agents.evaluate import backtest_trajectory, trajectory_result

    env = _test_env(synth, split_dates, fees=0.002, slippage=0.001)
    traj = rollout(PolicyRunner(trained.model), env)
    bt = backtest_trajectory(env, traj)
    tr = trajectory_result(env, traj)
    np.testing.assert_allclose(tr.equity, bt.equity, rtol=1e-9)
    np.testing.assert_allclose(tr.positions, bt.positions, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(tr.cash, bt.cash, rtol=1e-9, atol=1e-6)
    assert tr.trades.shape == bt.trades.shape
    np.testing.assert_array_equal(tr.trades["bar"], bt.trades["bar"])
    np.testing.assert_allclose(tr.trades["fees"], bt.trades["fees"], rtol=1e-9)
    assert tr.total_fees == pytest.approx(bt.total_fees, rel=1e-9)


def test_evaluation_has_no_look_ahead(trained, synth, split_dates, perturb):
    env = _test_env(synth, split_dates)
    cut = env.first_row + 12  # a row inside the test split
    base = evaluate_agent(trained.model, env)
    changed = perturb(env.panel, cut)
    env2 = PortfolioEnv(changed, split="all", window=5, vol_window=5, episode_length=None)
    assert env2.first_row == env.first_row
    res = evaluate_agent(trained.model, env2)
    k = cut - env.first_row
    # equity up to the close of row `cut` only depends on data up to it
    np.testing.assert_array_equal(res.equity[: k + 1], base.equity[: k + 1])
    assert not np.array_equal(res.equity[k + 2 :], base.equity[k + 2 :])


def test_save_refuses_panel_in_env_kwargs(trained, synth, tmp_path):
    with pytest.raises(ConfigError, match="Panel"):
        save(trained.model, tmp_path / "x", env_kwargs={"other": synth}, market=synth)


def test_make_agent_rejects_unknown_algo(synth):
    env = PortfolioEnv(synth, split="all", window=5, vol_window=5, episode_length=20)
    with pytest.raises(ConfigError, match="unknown algorithm"):
        make_agent("ppo2", env)


def test_run_trained_with_config_records_saves_and_reloads(synth, split_dates, tmp_path):
    from quantrl.agents.persist import make_run_env
    from quantrl.envs import ActionConfig, Costs, ObservationConfig, RewardConfig

    records = {
        "costs": Costs(fees=0.002, slippage=0.0005),
        "observation": ObservationConfig(window=5, vol_window=5, technicals=("rsi",)),
        "reward": RewardConfig(name="dsr", eta=0.05),
        "actions": ActionConfig(temperature=3.0),
    }
    out = tmp_path / "records"
    outcome = train_agent(
        "quantrl/Portfolio-v0",
        timesteps=256,
        market=synth,
        split_dates=split_dates,
        env_kwargs={**records, "episode_length": 40},
        out=out,
    )
    meta = json.loads((out / "meta.json").read_text())
    # a record is stored as the plain dict of its fields
    assert meta["env_kwargs"]["costs"] == {
        "fees": 0.002,
        "fixed_fees": 0.0,
        "slippage": 0.0005,
        "init_cash": 1e6,
        "execution": "next_open",
        "rebalance_threshold": 0.0,
        "max_leverage": 1.0,
    }
    assert meta["env_kwargs"]["observation"]["technicals"] == ["rsi"]
    # ... and rebuilds the same records, hence the same env and the same test equity
    env = make_run_env(read_meta(out), split="test", market=synth)
    assert env.costs == records["costs"] and env.reward_config == records["reward"]
    assert env.observation_config == records["observation"]
    assert env.action_config == records["actions"]
    direct = evaluate_agent(
        outcome.model,
        PortfolioEnv(synth, split="test", split_dates=split_dates, episode_length=None, **records),
    )
    again = evaluate_agent(None, out, split="test", market=synth)
    np.testing.assert_array_equal(direct.equity, again.equity)
    assert load(out).meta.env_kwargs["reward"]["name"] == "dsr"
