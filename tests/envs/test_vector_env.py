"""Batched Portfolio env: equals single envs, same-step autoreset, SB3 adapter, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.envs import ESGPortfolioEnv, PortfolioEnv, PortfolioVectorEnv, SB3VecEnv
from quantrl.errors import ConfigError

KW = dict(split="all", window=4, vol_window=5, reward="dsr")


def test_each_batched_env_equals_a_single_env(synth):
    panel = synth(200, 4, seed=1)
    venv = PortfolioVectorEnv(3, panel, episode_length=30, **KW)
    starts = np.array([20, 77, 150])
    obs, info = venv.reset(options={"start": starts})
    actions = np.random.default_rng(0).uniform(-1, 1, (30, 3, 5))
    batched = [obs]
    rewards, equities = [], []
    for a in actions[:29]:
        o, r, term, trunc, inf = venv.step(a)
        batched.append(o)
        rewards.append(r)
        equities.append(inf["equity"])
        assert not (term | trunc).any()
    for e, s in enumerate(starts):
        env = PortfolioEnv(panel, episode_length=30, **KW)
        o, _ = env.reset(options={"start": int(s)})
        np.testing.assert_array_equal(o, batched[0][e])
        for k in range(29):
            o, r, _, _, inf = env.step(actions[k, e])
            np.testing.assert_array_equal(o, batched[k + 1][e])
            assert r == rewards[k][e]
            assert inf["equity"] == equities[k][e]


def test_same_step_autoreset_and_final_obs(synth):
    panel = synth(120, 3, seed=2)
    venv = PortfolioVectorEnv(4, panel, episode_length=5, seed=0, **KW)
    assert venv.metadata["autoreset_mode"].value == "SameStep"
    assert venv.num_envs == 4 and venv.single_action_space.shape == (4,)
    obs, info = venv.reset(seed=3)
    assert venv.observation_space.contains(obs)
    single = PortfolioEnv(panel, episode_length=5, **KW)
    last_single = None
    a = np.zeros((4, 4))
    for k in range(5):
        o, r, term, trunc, inf = venv.step(a)
        if k == 0:
            s0 = single.reset(options={"start": int(info["t"][1])})
        last_single = single.step(a[1])
    assert trunc.all() and not term.any()
    assert inf["_final_obs"].all()
    np.testing.assert_array_equal(inf["final_obs"][1], last_single[0])
    np.testing.assert_array_equal(o[:, -4:], np.tile([0, 0, 0, 1], (4, 1)))  # fresh episodes
    assert s0 is not None
    o2, r2, term2, trunc2, inf2 = venv.step(a)
    assert not (term2 | trunc2).any() and "final_obs" not in inf2


def test_seeded_reset_is_reproducible(synth):
    panel = synth(150, 3, seed=3)
    venv = PortfolioVectorEnv(8, panel, episode_length=10, **KW)
    actions = np.random.default_rng(1).uniform(-1, 1, (25, 8, 4))

    def run():
        obs, _ = venv.reset(seed=11)
        out = [obs]
        for a in actions:
            out.append(venv.step(a)[0])
        return np.array(out)

    np.testing.assert_array_equal(run(), run())


def test_esg_vector_env_runs(synth):
    panel = synth(120, 3, seed=4)
    q = np.tile([50.0, 60.0, 70.0], (120, 1))
    q[:30] = np.nan
    panel = panel.with_extras(esg_quality=q)
    venv = PortfolioVectorEnv(2, panel, env_cls=ESGPortfolioEnv, episode_length=10, **KW)
    obs, info = venv.reset(seed=0)
    assert (info["t"] >= 30).all()
    o, r, *_ = venv.step(np.zeros((2, 4)))
    assert np.isfinite(r).all()


def test_bad_inputs(synth):
    venv = PortfolioVectorEnv(2, synth(100, 3), episode_length=10, **KW)
    with pytest.raises(ConfigError, match="reset"):
        venv.step(np.zeros((2, 4)))
    venv.reset(seed=0)
    with pytest.raises(ConfigError, match="shape"):
        venv.step(np.zeros((3, 4)))
    bad = np.zeros((2, 4))
    bad[1, 2] = np.nan
    with pytest.raises(ConfigError, match="non-finite"):
        venv.step(bad)
    with pytest.raises(ConfigError, match="start"):
        venv.reset(options={"start": [0, 1]})
    with pytest.raises(ConfigError, match="num_envs"):
        PortfolioVectorEnv(0, synth(100, 3), **KW)


def test_sb3_adapter_reports_terminal_observations(synth):
    venv = SB3VecEnv(PortfolioVectorEnv(3, synth(100, 2), episode_length=4, **KW))
    obs = venv.reset()
    assert obs.shape == (3, venv.observation_space.shape[0])
    for _ in range(4):
        venv.step_async(np.zeros((3, 3)))
        obs, rewards, dones, infos = venv.step_wait()
    assert dones.all() and rewards.dtype == np.float32
    for i in infos:
        assert i["TimeLimit.truncated"] and i["episode"]["l"] == 4
        assert i["terminal_observation"].shape == obs.shape[1:]
    assert venv.get_attr("n_assets") == [2, 2, 2]


@pytest.mark.slow
def test_ppo_trains_on_64_batched_envs_smoke():
    import torch

    from quantrl.agents import make_agent

    venv = SB3VecEnv(PortfolioVectorEnv(64, "dow30", seed=0))
    model = make_agent("ppo", venv, seed=0, n_steps=32, batch_size=512, n_epochs=1)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(4_096)
    assert model.num_timesteps == 4_096
    after = list(model.policy.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_threaded_and_serial_kernels_agree(synth):
    panel = synth(150, 3, seed=6)
    actions = np.random.default_rng(2).uniform(-1, 1, (30, 16, 4))
    runs = []
    for parallel in (False, True):
        venv = PortfolioVectorEnv(16, panel, episode_length=12, parallel=parallel, **KW)
        obs, _ = venv.reset(seed=4)
        seq = [obs]
        for a in actions:
            o, r, *_ = venv.step(a)
            seq.append(np.column_stack([o, r]))
        runs.append(seq)
    for x, y in zip(*runs, strict=True):
        np.testing.assert_array_equal(x, y)
