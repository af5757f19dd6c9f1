"""Every algorithm constructs and trains (smoke); compatibility errors; HFT / ESG evaluation;
callbacks; ``train_agent`` on ids, envs, factories and VecEnvs, batched by default; reproducible
learning curves, evaluations, parameters and test equity."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from quantrl.agents import AgentStrategy, TrainOutcome, evaluate_agent, make_agent, train_agent
from quantrl.agents.callbacks import BacktestEvalCallback, equity_metrics
from quantrl.agents.factory import MAX_ROLLOUT, rollout_steps
from quantrl.agents.training import make_train_env
from quantrl.backtest import run_weights
from quantrl.envs import HFTEnv, PortfolioEnv, SB3VecEnv, make_sb3_vec_env
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
def test_continuous_algos_train_and_evaluate_smoke(algo, synth):
    env = _portfolio(synth, seed=0)
    model = make_agent(algo, env, seed=0)
    model.learn(256)
    assert model.num_timesteps >= 256
    res = evaluate_agent(model, _portfolio(synth, episode_length=None))
    assert np.isfinite(res.equity).all()
    assert res.n_bars == synth.n_dates - env.first_row


def test_dqn_on_hft_evaluation_is_the_env_trajectory(make_synth):
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


KW = {"window": 5, "vol_window": 5, "episode_length": 10}


def _run(synth, split_dates, tmp_path, name, seed=3, n_envs=None):
    """PPO through train_agent, evaluated on valid every 512 steps and saved (with a name)."""
    return train_agent(
        "quantrl/Portfolio-v0",
        algo="ppo",
        timesteps=2048 if n_envs is None else 384,
        market=synth,
        split_dates=split_dates,
        env_kwargs=KW,
        out=tmp_path / name if name else None,
        eval_freq=512 if n_envs is None else 128,
        seed=seed,
        n_envs=n_envs,
        algo_kwargs=None if n_envs is None else {"n_steps": 64},
    )


def _same_parameters(a, b) -> bool:
    sa, sb = a.policy.state_dict(), b.policy.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("n_envs", [None, 1], ids=["batched", "single"])
def test_same_seed_gives_identical_curves_parameters_and_test_equity(
    n_envs, synth, split_dates, tmp_path
):
    a = _run(synth, split_dates, tmp_path, "a", n_envs=n_envs)
    b = _run(synth, split_dates, tmp_path, "b", n_envs=n_envs)
    assert a.n_envs == (128 if n_envs is None else 1)
    assert len(a.episode_rewards) >= 30
    assert a.episode_rewards == b.episode_rewards
    assert a.episode_lengths == b.episode_lengths and set(a.episode_lengths) == {10}
    assert len(a.eval_history) == (4 if n_envs is None else 3)
    assert a.eval_history == b.eval_history
    assert _same_parameters(a.model, b.model)
    ea = evaluate_agent(None, a.run_path, split="test", market=synth)
    eb = evaluate_agent(None, b.run_path, split="test", market=synth)
    np.testing.assert_array_equal(ea.equity, eb.equity)
    # another seed learns something else (the test can fail)
    c = _run(synth, split_dates, tmp_path, None, seed=4, n_envs=n_envs)
    assert c.episode_rewards != a.episode_rewards
    assert not _same_parameters(a.model, c.model)


def test_batched_training_is_the_default_for_ppo_and_a2c_on_portfolio(
    synth, make_synth, split_dates
):
    common = {"market": synth, "env_kwargs": KW, "split_dates": split_dates}
    assert isinstance(make_train_env(**common), SB3VecEnv)
    assert make_train_env(algo="a2c", **common).num_envs == 64
    assert make_train_env(**common).num_envs == 128
    for venv in (
        make_train_env(algo="sac", **common),
        make_train_env(n_envs=1, **common),
        make_train_env("quantrl/HFT-v0", market=make_synth(600, 1, seed=3, minute=True)),
    ):
        assert isinstance(venv, DummyVecEnv) and venv.num_envs == 1
    dummy = make_train_env("quantrl/HFT-v0", n_envs=3, market=make_synth(600, 1, minute=True))
    assert isinstance(dummy, DummyVecEnv) and dummy.num_envs == 3
    # PPO's rollout is sized from the budget: ~16 rollouts, 8..MAX_ROLLOUT/n_envs steps per env
    assert rollout_steps(128, 2048) == 8
    assert rollout_steps(128, 100_000) == 100_000 // 16 // 128
    assert rollout_steps(128, 10**8) == rollout_steps(128) == MAX_ROLLOUT // 128
    model = make_agent("ppo", make_train_env(**common), timesteps=10**6)
    assert model.n_steps * model.n_envs == MAX_ROLLOUT and model.batch_size == MAX_ROLLOUT // 4
    assert model.n_epochs == 3
    odd = make_agent("ppo", make_train_env(n_envs=17, **common), timesteps=100)
    assert odd.n_steps == 8 and odd.batch_size == 34  # 4 minibatches of the 136-step rollout
    small = make_agent("ppo", make_train_env(n_envs=4, **common))
    assert small.n_steps == 256 and small.batch_size == 64  # few envs: the small defaults


class CountSteps(BaseCallback):
    """Counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def _on_step(self) -> bool:
        self.calls += 1
        return True


def test_train_agent_takes_envs_factories_vec_envs_and_options(synth):
    env = _portfolio(synth, seed=0)
    one = train_agent(env, algo="a2c", timesteps=160, seed=0)
    assert one.n_envs == 1 and one.env_id == "quantrl/Portfolio-v0" and one.timesteps == 160
    assert one.run_path is None and len(one.episode_rewards) == 160 // 40

    def factory() -> gym.Env:
        return _portfolio(synth, seed=0)

    counter = CountSteps()
    seen = []
    three = train_agent(
        factory,
        n_envs=3,
        algo="ppo",
        timesteps=120,
        seed=0,
        algo_kwargs={"n_steps": 40, "batch_size": 60},
        policy_kwargs={"net_arch": {"pi": [16], "vf": [8]}},
        callbacks=[counter],
        pretrain=seen.append,
    )
    assert three.n_envs == 3 and counter.calls == 40 and seen == [three.model]
    assert three.model.policy.mlp_extractor.policy_net[0].out_features == 16
    assert len(three.episode_rewards) == 3  # one 40-step episode per env
    venv = make_sb3_vec_env(16, synth, split="all", seed=0, **KW)
    batched = train_agent(venv, timesteps=128, seed=0)
    assert batched.n_envs == 16 and batched.model.n_steps == 8  # batched defaults
    # early stopping on a given env: a frozen policy never improves, patience 1 stops it
    frozen = train_agent(
        env,
        algo="a2c",
        timesteps=4000,
        seed=0,
        algo_kwargs={"learning_rate": 0.0},
        eval_freq=100,
        patience=1,
        eval_env=lambda: _portfolio(synth, episode_length=None),
    )
    assert len(frozen.eval_history) == 2 and frozen.timesteps < 4000
    assert frozen.eval_history[0]["sharpe"] == frozen.eval_history[1]["sharpe"]


def test_train_agent_errors_are_clear(synth):
    env = _portfolio(synth, seed=0)
    with pytest.raises(ConfigError, match="market apply to an env id only"):
        train_agent(env, market=synth, timesteps=10)
    with pytest.raises(ConfigError, match="out= "):
        train_agent(env, out="somewhere", timesteps=10)
    with pytest.raises(ConfigError, match="eval_env"):
        train_agent(env, eval_freq=10, timesteps=10)
    with pytest.raises(ConfigError, match="n_envs > 1"):
        train_agent(env, n_envs=2, timesteps=10)
    with pytest.raises(ConfigError, match="env must be"):
        train_agent(42, timesteps=10)
    with pytest.raises(ConfigError, match="n_envs"):
        train_agent(market=synth, n_envs=0, timesteps=10)
    with pytest.raises(ConfigError, match="no default market"):
        train_agent("quantrl/PairsTrading-v0", timesteps=10)
    with pytest.raises(ConfigError, match="split"):
        train_agent(market=synth, env_kwargs={"split": "test"}, timesteps=10)


def test_train_outcome_repr_and_html(synth, split_dates, tmp_path):
    out = _run(synth, split_dates, tmp_path, "shown")
    text = repr(out)
    assert text.startswith("TrainOutcome(") and len(text) < 400 and "0x" not in text
    for part in ("ppo", "quantrl/Portfolio-v0 on synthetic", "2,048 (128 envs)", " s,", "sharpe"):
        assert part in text
    assert str(tmp_path / "shown") in text
    html = out._repr_html_()
    assert html.startswith("<div><b>TrainOutcome</b>") and "<table" in html
    assert "last eval" in html and "2,048" in html
    bare = TrainOutcome(
        model=out.model,
        run_path=None,
        episode_rewards=[],
        eval_history=[],
        env_id="<x>",
        env_kwargs={},
        market=synth,
        algo="ppo",
    )
    assert "not saved" in repr(bare) and "&lt;x&gt;" in bare._repr_html_()


def test_progress_callback_counts_steps(synth):
    from quantrl.agents.callbacks import RichProgressCallback

    env = _portfolio(synth, seed=0)
    model = make_agent("a2c", env, seed=0)
    cb = RichProgressCallback(160, "test")
    model.learn(160, callback=cb)
    assert cb.completed == model.num_timesteps == 160
    assert cb._progress is None  # stopped at the end of training
