"""Every algorithm constructs and learns; compatibility errors; HFT / ESG evaluation; callbacks;
reproducibility of learning curves and test equity."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from quantrl.agents import AgentStrategy, evaluate_agent, make_agent, train_agent
from quantrl.agents.callbacks import BacktestEvalCallback, equity_metrics
from quantrl.backtest import run_weights
from quantrl.envs import HFTEnv, PortfolioEnv
from quantrl.errors import ConfigError


def _portfolio(panel, **kw):
    base = {"split": "all", "window": 5, "vol_window": 5, "episode_length": 40}
    return PortfolioEnv(panel, **{**base, **kw})


def _hft(make_synth, **kw):
    panel = make_synth(1200, 1, seed=3, minute=True)
    base = {
        "split": "all",
        "window": 10,
        "vol_window": 10,
        "impact_window": 10,
        "episode_length": 100,
    }
    return HFTEnv(panel, **{**base, **kw})


class MaskedHFT(gym.Wrapper):
    """HFT-v0 with an action mask that forbids the two most extreme short levels."""

    def action_masks(self) -> np.ndarray:
        mask = np.ones(self.env.action_space.n, dtype=bool)
        mask[:2] = False
        return mask


@pytest.mark.parametrize("algo", ["ppo", "a2c", "sac", "td3", "ddpg", "recurrent_ppo"])
def test_continuous_algos_learn_on_portfolio(algo, synth):
    env = _portfolio(synth, seed=0)
    model = make_agent(algo, env, seed=0)
    model.learn(256)
    assert model.num_timesteps >= 256
    res = evaluate_agent(model, _portfolio(synth, episode_length=None))
    assert np.isfinite(res.equity).all()
    assert res.n_bars == synth.n_dates - env.first_row


def test_dqn_learns_on_hft_and_evaluates(make_synth):
    env = _hft(make_synth, seed=0)
    model = make_agent("dqn", env, seed=0)
    model.learn(256)
    res = evaluate_agent(model, _hft(make_synth))
    # the trajectory result's equity is the env's own equity, step by step
    env2 = _hft(make_synth)
    obs, _ = env2.reset(options={"start": env2.first_row})
    equity, done = [1e6], False
    while not done:
        a, _ = model.predict(obs, deterministic=True)
        obs, _, term, trunc, info = env2.step(a)
        equity.append(info["equity"])
        done = term or trunc
    np.testing.assert_allclose(res.equity, equity, rtol=1e-12)
    assert res.positions.shape == (len(equity), 1)
    # equity = cash + position marked at the close (reference in numpy)
    marked = res.cash + res.positions[:, 0] * res.close[:, 0]
    np.testing.assert_allclose(marked, res.equity, rtol=1e-9)


def test_maskable_ppo_respects_masks(make_synth):
    env = MaskedHFT(_hft(make_synth, seed=0))
    model = make_agent("maskable_ppo", env, seed=0)
    model.learn(256)
    obs, _ = env.reset(seed=1)
    for _ in range(30):
        a, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=False)
        assert int(a) >= 2
        obs, *_ = env.step(a)


def test_incompatible_algorithms_raise_clear_errors(synth, make_synth):
    with pytest.raises(ConfigError, match="Discrete"):
        make_agent("dqn", _portfolio(synth))
    with pytest.raises(ConfigError, match="action_masks"):
        make_agent("maskable_ppo", _portfolio(synth))
    with pytest.raises(ConfigError, match="Box"):
        make_agent("sac", _hft(make_synth))
    with pytest.raises(ConfigError, match="bad argument"):
        make_agent("ppo", _portfolio(synth), not_an_arg=1)


def test_esg_env_evaluation(dow30):
    from quantrl.envs import ESGPortfolioEnv

    env = ESGPortfolioEnv(dow30, split="test", episode_length=None)
    model = make_agent("ppo", env, seed=0, n_steps=64)
    model.learn(64)
    res = evaluate_agent(model, env)
    assert res.n_bars == env.last_row - env.first_row + 1
    plain = res.spec["unregulated"]
    # the grant/tax moved wealth: regulated equity differs from the plain backtest ...
    assert not np.allclose(res.equity, plain.equity)
    # equity is cash plus positions marked at the close (the grant/tax is paid into cash)
    marks = np.where(res.positions != 0, res.positions * res.marks, 0.0).sum(axis=1)
    np.testing.assert_allclose(res.cash + marks, res.equity, rtol=1e-9)
    # with gamma = theta = 0 nothing is paid: the result is the backtest itself (parity checked)
    free = ESGPortfolioEnv(dow30, split="test", episode_length=None, gamma=0.0, theta=0.0)
    res0 = evaluate_agent(model, free)
    assert "source" not in res0.spec and "unregulated" not in res0.spec
    assert res0.n_bars == res.n_bars
    np.testing.assert_allclose(res0.equity, plain.equity, rtol=1e-6)


def test_agent_strategy_weights_reproduce_evaluation(synth):
    env = _portfolio(synth, seed=0)
    model = make_agent("ppo", env, seed=0, n_steps=64)
    model.learn(64)
    strat = AgentStrategy(model, env_kwargs={"window": 5, "vol_window": 5})
    w = strat.target_weights(synth)
    assert w.shape == (synth.n_dates, synth.n_symbols)
    assert np.isnan(w[: env.first_row]).all()
    assert np.allclose(np.nansum(w[env.first_row : -1], axis=1) <= 1 + 1e-12, True)
    res = run_weights(synth, w, fees=0.001)
    ref = evaluate_agent(model, _portfolio(synth, episode_length=None))
    np.testing.assert_allclose(res.equity[env.first_row :], ref.equity, rtol=1e-9)
    assert (res.equity[: env.first_row] == 1e6).all()


def test_equity_metrics_against_numpy():
    eq = np.array([100.0, 110.0, 99.0, 120.0, 108.0])
    r = eq[1:] / eq[:-1] - 1
    m = equity_metrics(eq)
    assert m["total_return"] == pytest.approx(0.08)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252))
    assert m["max_drawdown"] == pytest.approx(99 / 110 - 1)


def test_eval_callback_saves_best_and_stops_early(synth, split_dates, tmp_path):
    out = tmp_path / "run"
    # patience=1 with an impossible improvement threshold: stops after the second evaluation
    env = _portfolio(synth, split="train", split_dates=split_dates, seed=0)
    model = make_agent("a2c", env, seed=0)

    def make_eval_env():
        return _portfolio(synth, split="valid", split_dates=split_dates, episode_length=None)

    cb = BacktestEvalCallback(
        make_eval_env,
        64,
        patience=1,
        min_delta=1e9,
        save_path=out,
        save_kwargs={
            "env_kwargs": {"window": 5, "vol_window": 5},
            "market": synth,
            "split_dates": split_dates,
        },
    )
    model.learn(4000, callback=cb)
    assert len(cb.history) == 2
    assert model.num_timesteps < 4000
    assert (out / "model.safetensors").exists() and (out / "meta.json").exists()
    assert cb.best_timesteps == cb.history[0]["timesteps"]
    # the recorded metric is the backtest's Sharpe of the validation split
    ref = evaluate_agent(model, make_eval_env())
    assert np.isfinite(ref.equity).all()
    with pytest.raises(ConfigError, match="metric"):
        BacktestEvalCallback(make_eval_env, 10, metric="calmar")


def _run(synth, split_dates, tmp_path, name):
    return train_agent(
        "quantrl/Portfolio-v0",
        algo="ppo",
        timesteps=384,
        market=synth,
        split_dates=split_dates,
        env_kwargs={"window": 5, "vol_window": 5, "episode_length": 30},
        out=tmp_path / name,
        eval_freq=128,
        seed=3,
        algo_kwargs={"n_steps": 64},
    )


def test_same_seed_gives_identical_learning_curve_and_test_equity(synth, split_dates, tmp_path):
    a = _run(synth, split_dates, tmp_path, "a")
    b = _run(synth, split_dates, tmp_path, "b")
    assert len(a.episode_rewards) >= 5
    assert a.episode_rewards == b.episode_rewards
    assert len(a.eval_history) == 3
    assert a.eval_history == b.eval_history
    ea = evaluate_agent(None, a.run_path, split="test", market=synth)
    eb = evaluate_agent(None, b.run_path, split="test", market=synth)
    np.testing.assert_array_equal(ea.equity, eb.equity)
    # another seed learns something else (the test can fail)
    c = train_agent(
        "quantrl/Portfolio-v0",
        algo="ppo",
        timesteps=384,
        market=synth,
        split_dates=split_dates,
        env_kwargs={"window": 5, "vol_window": 5, "episode_length": 30},
        seed=4,
        algo_kwargs={"n_steps": 64},
    )
    assert c.episode_rewards != a.episode_rewards


def test_progress_callback_counts_steps(synth):
    from quantrl.agents.callbacks import RichProgressCallback

    env = _portfolio(synth, seed=0)
    model = make_agent("a2c", env, seed=0)
    cb = RichProgressCallback(160, "test")
    model.learn(160, callback=cb)
    assert cb.completed == model.num_timesteps == 160
    assert cb._progress is None  # stopped at the end of training
