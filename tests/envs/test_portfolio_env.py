"""Portfolio-v0: checkers, parity with run_weights, no look-ahead, rewards, bad input."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import quantrl.envs  # noqa: F401  (registers the ids)
from quantrl.backtest import run_weights
from quantrl.envs import PortfolioEnv
from quantrl.errors import ConfigError, DataError, QuantRLError


def _rollout(env, actions, seed=None, options=None):
    obs, _ = env.reset(seed=seed, options=options)
    out = [obs]
    rewards, infos = [], []
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append(obs)
        rewards.append(r)
        infos.append(info)
        if term or trunc:
            break
    return np.array(out), np.array(rewards), infos


def test_gymnasium_and_sb3_checkers(dow30):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = PortfolioEnv(dow30, split="train", split_dates=("2019-01-01", "2021-01-01"), seed=0)
    check_env(env, skip_render_check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check_env(PortfolioEnv(dow30, split="valid", split_dates=("2019-01-01", "2021-01-01")))


def test_make_by_id_on_bundled_market():
    env = gym.make("quantrl/Portfolio-v0", market="dow30")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.spec.max_episode_steps is None  # the env truncates itself at episode_length
    assert env.unwrapped.episode_length == 252
    n = env.unwrapped.n_assets
    assert obs.shape == (20 * n + n + n + 1,)
    obs, r, term, trunc, info = env.step(env.action_space.sample())
    assert np.isfinite(r) and info["equity"] > 0
    # the train split of dow30 ends before the default valid start
    assert env.unwrapped.panel.dates[-1] < np.datetime64("2019-01-01")


def test_reset_seed_gives_identical_trajectories(synth):
    env = PortfolioEnv(synth(200, 5), split="all", window=5, episode_length=50, reward="dsr")
    actions = np.random.default_rng(1).uniform(-1, 1, (50, 6))
    o1, r1, _ = _rollout(env, actions, seed=7)
    o2, r2, _ = _rollout(env, actions, seed=7)
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(r1, r2)
    o3, _, _ = _rollout(env, actions, seed=8)
    assert not np.array_equal(o1[0], o3[0])  # another seed, another start


@pytest.mark.parametrize("execution", ["next_open", "next_close"])
@pytest.mark.parametrize("holes", [False, True])
def test_constant_weights_match_run_weights(synth, execution, holes):
    panel = synth(160, 4, seed=3, holes=holes)
    w = np.array([0.3, 0.2, 0.1, 0.25])
    env = PortfolioEnv(
        panel,
        split="all",
        window=5,
        vol_window=5,
        episode_length=None,
        action_mode="weights",
        fees=0.002,
        slippage=0.001,
        execution=execution,
    )
    _, _, infos = _rollout(env, [w] * 1000)
    start = env.first_row
    seg = panel.slice(panel.dates[start], None)
    res = run_weights(
        seg, np.tile(w, (seg.n_dates, 1)), fees=0.002, slippage=0.001, execution=execution
    )
    env_equity = np.array([1e6] + [i["equity"] for i in infos])
    assert env_equity.shape == res.equity.shape
    np.testing.assert_allclose(env_equity, res.equity, rtol=1e-9, atol=0)


def test_varying_weights_match_run_weights(synth):
    panel = synth(120, 5, seed=4)
    rng = np.random.default_rng(5)
    weights = rng.dirichlet(np.ones(6), panel.n_dates)[:, :5]
    env = PortfolioEnv(
        panel,
        split="all",
        window=3,
        vol_window=3,
        episode_length=None,
        action_mode="weights",
        fees=0.001,
    )
    start = env.first_row
    _, _, infos = _rollout(env, weights[start:])
    seg = panel.slice(panel.dates[start], None)
    res = run_weights(seg, weights[start:], fees=0.001)
    env_equity = np.array([1e6] + [i["equity"] for i in infos])
    np.testing.assert_allclose(env_equity, res.equity, rtol=1e-9, atol=0)
    # fees reported per step add up to the backtest's trade fees
    assert sum(i["fees"] for i in infos) == pytest.approx(res.trades["fees"].sum(), rel=1e-9)


def test_softmax_action_of_log_weights_reproduces_weights(synth):
    panel = synth(80, 3, seed=6)
    w = np.array([0.5, 0.2, 0.2])
    env = PortfolioEnv(panel, split="all", window=3, vol_window=3, episode_length=None, fees=0.0)
    action = env.weights_to_action(w)
    _, _, infos = _rollout(env, [action] * 200)
    seg = panel.slice(panel.dates[env.first_row], None)
    res = run_weights(seg, np.tile(w, (seg.n_dates, 1)), fees=0.0)
    env_equity = np.array([1e6] + [i["equity"] for i in infos])
    np.testing.assert_allclose(env_equity, res.equity, rtol=1e-9)
    # the weights in the observation after a step are the held weights (at the close)
    held = env.weights
    assert held.sum() == pytest.approx(1.0)


def test_softmax_mapping_against_numpy(synth):
    env = PortfolioEnv(
        synth(60, 3),
        split="all",
        window=3,
        vol_window=3,
        episode_length=10,
        temperature=2.0,
        fees=0.0,
    )
    env.reset(seed=0)
    a = np.array([0.3, -0.5, 0.9, 0.1])
    env.step(a)
    e = np.exp(2.0 * a)
    expected = e[:3] / e.sum()
    np.testing.assert_allclose(env._state.book[0, 3], expected, rtol=1e-12)


def test_long_short_mapping_caps_gross_leverage(synth):
    env = PortfolioEnv(
        synth(60, 3),
        split="all",
        window=3,
        vol_window=3,
        episode_length=10,
        action_mode="long_short",
        max_leverage=1.0,
    )
    env.reset(seed=0)
    env.step(np.array([2.0, -0.5, 0.5]))  # clipped to [1, -0.5, 0.5], gross 2 -> scaled by 1/2
    np.testing.assert_allclose(env._state.book[0, 3], [0.5, -0.25, 0.25], rtol=1e-12)
    env = PortfolioEnv(
        synth(60, 3),
        split="all",
        window=3,
        vol_window=3,
        episode_length=10,
        action_mode="weights",
    )
    env.reset(seed=0)
    env.step(np.array([0.8, -0.6, 0.2]))  # gross 1.6 -> scaled to 1
    np.testing.assert_allclose(env._state.book[0, 3], [0.5, -0.375, 0.125], rtol=1e-12)


def test_observation_layout_against_numpy(synth):
    panel = synth(100, 3, seed=2)
    env = PortfolioEnv(panel, split="all", window=4, vol_window=6, episode_length=20)
    obs, info = env.reset(options={"start": 50})
    close = np.asarray(panel["close"])
    lr = np.log(close[1:] / close[:-1])
    expected_window = lr[50 - 4 : 50]  # returns of rows 47..50 (index shift by one)
    np.testing.assert_allclose(obs[:12].reshape(4, 3), expected_window, rtol=1e-5)
    vol = lr[50 - 6 : 50].std(axis=0, ddof=1)
    np.testing.assert_allclose(obs[12:15], vol, rtol=1e-4)
    np.testing.assert_array_equal(obs[15:], [0, 0, 0, 1])


def test_no_look_ahead_observation_ignores_future_prices(synth, perturb):
    panel = synth(150, 4, seed=8)
    row = 90
    changed = perturb(panel, row)
    kw = dict(
        split="all",
        window=5,
        vol_window=5,
        episode_length=60,
        technicals=("rsi", "clv", "momentum", "volume_z", "hl_range"),
    )
    env_a, env_b = PortfolioEnv(panel, **kw), PortfolioEnv(changed, **kw)
    actions = np.random.default_rng(3).uniform(-1, 1, (60, 5))
    oa, ra, _ = _rollout(env_a, actions, options={"start": 60})
    ob, rb, _ = _rollout(env_b, actions, options={"start": 60})
    k = row - 60  # observation index whose last row is `row`
    np.testing.assert_array_equal(oa[: k + 1], ob[: k + 1])
    np.testing.assert_array_equal(ra[:k], rb[:k])
    assert not np.array_equal(oa[k + 1], ob[k + 1])  # the perturbation is visible afterwards


def test_splits_never_reach_into_later_segments(dow30):
    env = PortfolioEnv(dow30, split="valid")
    assert env.panel.dates[-1] < np.datetime64("2021-01-01")
    assert env.panel.dates[env.first_row] >= np.datetime64("2019-01-01")
    env = PortfolioEnv(dow30, split="test", episode_length=None)
    assert env.panel.dates[env.first_row] >= np.datetime64("2021-01-01")
    obs, _ = env.reset()
    steps = 0
    done = False
    while not done:
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        done = term or trunc
        steps += 1
    assert steps == env.last_row - env.first_row


def test_sequential_sampling_tiles_the_split(synth):
    env = PortfolioEnv(
        synth(100, 2), split="all", window=3, vol_window=3, episode_length=20, sampling="sequential"
    )
    starts = [env.reset()[1]["t"] for _ in range(5)]
    first = env.first_row
    n_ep = (env.last_row - first) // 20
    assert starts == [first + (k % n_ep) * 20 for k in range(5)]


def _reference_rewards(equity, kind, eta=0.01, lam=1.0, k=20):
    ret = equity[1:] / equity[:-1] - 1
    out = []
    a = b = 0.0
    for i, r in enumerate(ret):
        hist = ret[max(0, i - k + 1) : i + 1]
        if kind == "log_return":
            out.append(np.log(1 + r))
        elif kind == "dsr":
            var = b - a * a
            out.append(0.0 if var <= 1e-12 else (b * (r - a) - 0.5 * a * (r * r - b)) / var**1.5)
            a, b = a + eta * (r - a), b + eta * (r * r - b)
        elif kind == "sharpe":
            sd = np.std(hist, ddof=1) if len(hist) > 1 else 0.0
            out.append(0.0 if len(hist) < 2 or sd == 0 else np.mean(hist) / sd)
        else:
            var = np.var(hist, ddof=1) if len(hist) > 1 else 0.0
            out.append(np.log(1 + r) - lam * var)
    return np.array(out)


@pytest.mark.parametrize("kind", ["log_return", "dsr", "sharpe", "risk_penalty"])
def test_rewards_against_python_reference(synth, kind):
    env = PortfolioEnv(
        synth(200, 3, seed=1),
        split="all",
        window=3,
        vol_window=3,
        episode_length=120,
        reward=kind,
        reward_window=7,
        reward_lambda=5.0,
        reward_eta=0.05,
    )
    actions = np.random.default_rng(2).uniform(-1, 1, (120, 4))
    _, rewards, infos = _rollout(env, actions, seed=0)
    equity = np.array([1e6] + [i["equity"] for i in infos])
    ref = _reference_rewards(equity, kind, eta=0.05, lam=5.0, k=7)
    np.testing.assert_allclose(rewards, ref, rtol=1e-7, atol=1e-12)


def test_bad_inputs_raise_clear_errors(synth):
    panel = synth(80, 3)
    env = PortfolioEnv(panel, split="all", window=3, vol_window=3, episode_length=10)
    with pytest.raises(ConfigError, match="call reset"):
        env.step(np.zeros(4))
    env.reset(seed=0)
    with pytest.raises(ConfigError, match="non-finite"):
        env.step(np.array([0.1, np.nan, 0.0, 0.0]))
    with pytest.raises(ConfigError, match="non-finite"):
        env.step(np.array([0.1, np.inf, 0.0, 0.0]))
    with pytest.raises(ConfigError, match="shape"):
        env.step(np.zeros(3))
    env.step(np.zeros(4))  # a bad action leaves the episode usable
    with pytest.raises(ConfigError, match="unknown market"):
        PortfolioEnv("nope")
    with pytest.raises(ConfigError, match="episode_length"):
        PortfolioEnv(panel, split="all", window=3, vol_window=3, episode_length=500)
    with pytest.raises(ConfigError, match="reward"):
        PortfolioEnv(panel, split="all", reward="sortino")
    with pytest.raises(ConfigError, match="action_mode"):
        PortfolioEnv(panel, split="all", action_mode="argmax")
    with pytest.raises(ConfigError, match="split_dates"):
        PortfolioEnv(panel, split="train")
    with pytest.raises(ConfigError, match="fees"):
        PortfolioEnv(panel, split="all", fees=-0.1)
    with pytest.raises(DataError):
        PortfolioEnv(panel, split="all", symbols=["S0", "ZZZ"])
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, QuantRLError)


def test_episode_terminates_or_truncates_once(synth):
    env = PortfolioEnv(synth(60, 2), split="all", window=3, vol_window=3, episode_length=5)
    env.reset(seed=1)
    flags = [env.step(np.zeros(3))[3] for _ in range(5)]
    assert flags == [False] * 4 + [True]
    with pytest.raises(ConfigError):
        env.step(np.zeros(3))


def test_factor_features_are_row_zscores_of_the_formula(synth, perturb):
    panel = synth(120, 4, seed=9)
    formula = "Mean($close, 5) / $close - 1"
    kw = dict(split="all", window=3, vol_window=3, episode_length=30, factors=[formula])
    env = PortfolioEnv(panel, **kw)
    assert env.point_feature_names == ("volatility", "factor_0")
    obs, _ = env.reset(options={"start": 60})
    close = np.asarray(panel["close"])
    raw = close[56:61].mean(axis=0) / close[60] - 1
    z = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(obs[3 * 4 + 4 : 3 * 4 + 8], z, rtol=1e-5, atol=1e-6)
    changed = PortfolioEnv(perturb(panel, 60), **kw)
    np.testing.assert_array_equal(changed.reset(options={"start": 60})[0], obs)
    with pytest.raises(QuantRLError):
        PortfolioEnv(panel, split="all", factors=["Mean($close, "])


def test_wiped_out_short_terminates_the_episode(synth):
    panel = synth(60, 2, seed=1)
    fields = {k: np.asarray(v).copy() for k, v in panel.fields.items()}
    for name in ("open", "high", "low", "close"):
        fields[name][40:, 0] *= 3.0  # asset 0 triples between rows 39 and 40
    panel = panel.replace(fields=fields)
    env = PortfolioEnv(
        panel,
        split="all",
        window=3,
        vol_window=3,
        episode_length=15,
        action_mode="long_short",
        fees=0.0,
    )
    env.reset(options={"start": 38})
    env.step(np.array([-1.0, 0.0]))  # short all of equity, filled at row 39's open
    _, reward, terminated, truncated, info = env.step(np.array([-1.0, 0.0]))
    assert terminated and not truncated and info["equity"] <= 0 and reward == -1.0
    with pytest.raises(ConfigError, match="reset"):
        env.step(np.array([0.0, 0.0]))
