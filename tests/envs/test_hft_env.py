"""HFT-v0: checkers, impact against a hand computation, regimes, no look-ahead, bad input."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import quantrl.envs  # noqa: F401
from quantrl.envs import HFTEnv
from quantrl.errors import ConfigError


@pytest.fixture(scope="module")
def minute_panel():
    import quantrl

    return quantrl.load_market("crypto_minute").slice(None, "2022-01-08")


def test_checkers_and_make(minute_panel):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = HFTEnv(minute_panel, split="all", episode_length=120)
    check_env(env, skip_render_check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check_env(HFTEnv(minute_panel, split="all", episode_length=120))
    made = gym.make("quantrl/HFT-v0")
    obs, info = made.reset(seed=0)
    assert made.observation_space.contains(obs)
    assert info["regime"]["trend"] in ("down", "flat", "up")
    assert made.unwrapped.panel.name == "crypto_minute"


def test_seeded_resets_are_reproducible(minute_panel):
    env = HFTEnv(minute_panel, split="all", episode_length=60)
    actions = np.random.default_rng(0).integers(0, 11, 60)

    def run(seed):
        obs, _ = env.reset(seed=seed)
        rows = [obs]
        for a in actions:
            obs, r, *_ = env.step(a)
            rows.append(np.append(obs, r))
        return rows

    a, b = run(3), run(3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("impact", ["none", "linear", "sqrt"])
def test_one_step_equity_matches_hand_computation(synth, impact):
    panel = synth(400, 1, seed=2, freq="m")
    coef = {"none": 0.0, "linear": 0.002, "sqrt": 0.8}[impact]
    env = HFTEnv(
        panel,
        split="all",
        episode_length=50,
        commission=0.0005,
        impact=impact,
        impact_coef=coef,
        impact_window=20,
        window=5,
        vol_window=5,
        init_cash=1e5,
    )
    t = 200
    env.reset(options={"start": t})
    _, _, _, _, info = env.step(8)  # level 8 of 11 -> weight 0.6
    close = np.asarray(panel["close"])[:, 0]
    open_ = np.asarray(panel["open"])[:, 0]
    volume = np.asarray(panel["volume"])[:, 0]
    p = open_[t + 1]
    units = 0.6 * 1e5 / p
    rho = units / volume[t - 19 : t + 1].mean()
    sigma = np.std(np.diff(np.log(close[t - 20 : t + 1])), ddof=1)
    conc = {"none": 0.0, "linear": coef * rho, "sqrt": coef * sigma * np.sqrt(rho)}[impact]
    fill = p * (1 + conc)
    cash = 1e5 - units * fill * (1 + 0.0005)
    assert info["equity"] == pytest.approx(cash + units * close[t + 1], rel=1e-10)
    assert info["impact"] == pytest.approx(units * p * conc, rel=1e-9, abs=1e-12)
    assert env.position == pytest.approx(units, rel=1e-12)


def test_levels_long_only_and_short(synth):
    panel = synth(200, 1, seed=1, freq="m")
    env = HFTEnv(
        panel, split="all", episode_length=20, n_levels=5, window=3, vol_window=3, impact_window=5
    )
    np.testing.assert_allclose(env.levels, [-1, -0.5, 0, 0.5, 1])
    env.reset(seed=0)
    env.step(0)
    assert env.position < 0
    env = HFTEnv(
        panel,
        split="all",
        episode_length=20,
        n_levels=3,
        long_only=True,
        window=3,
        vol_window=3,
        impact_window=5,
    )
    np.testing.assert_allclose(env.levels, [0, 0.5, 1])


def test_regime_labels_and_sampling(minute_panel):
    env = HFTEnv(minute_panel, split="all", episode_length=120, regime="up", seed=0)
    log_close = np.log(np.asarray(minute_panel["close"])[:, 0])
    slopes = [np.polyfit(np.arange(121), log_close[s : s + 121], 1)[0] for s in env.chunk_starts]
    upper = np.quantile(slopes, 2 / 3)
    for _ in range(5):
        _, info = env.reset()
        s = info["t"]
        assert info["regime"]["trend"] == "up"
        assert np.polyfit(np.arange(121), log_close[s : s + 121], 1)[0] >= upper - 1e-12
    both = HFTEnv(minute_panel, split="all", episode_length=120, regime=("down", "high"), seed=1)
    _, info = both.reset()
    assert info["regime"] == {"trend": "down", "volatility": "high"}


def test_no_look_ahead(synth, perturb):
    panel = synth(300, 1, seed=5, freq="m")
    row = 200
    kw = dict(split="all", episode_length=60, window=5, vol_window=5, impact_window=10)
    env_a, env_b = HFTEnv(panel, **kw), HFTEnv(perturb(panel, row), **kw)
    actions = np.random.default_rng(1).integers(0, 11, 60)
    obs = []
    for env in (env_a, env_b):
        o, _ = env.reset(options={"start": 170})
        seq = [o]
        for a in actions:
            seq.append(env.step(a)[0])
        obs.append(np.array(seq))
    k = row - 170
    np.testing.assert_array_equal(obs[0][: k + 1], obs[1][: k + 1])
    assert not np.array_equal(obs[0][k + 1], obs[1][k + 1])


def test_bad_inputs(synth, minute_panel):
    panel = synth(200, 1, freq="m")
    env = HFTEnv(panel, split="all", episode_length=20, window=3, vol_window=3, impact_window=5)
    env.reset(seed=0)
    for bad in (11, -1, 2.5, np.nan, "a", [1, 2]):
        with pytest.raises(ConfigError):
            env.step(bad)
    env.step(np.int64(3))
    env.step(np.array([4]))
    with pytest.raises(ConfigError, match="episode_length"):
        HFTEnv(panel, split="all", episode_length=10_000)
    with pytest.raises(ConfigError, match="impact"):
        HFTEnv(panel, split="all", impact="cubic")
    with pytest.raises(ConfigError, match="regime"):
        HFTEnv(minute_panel, split="all", episode_length=60, regime="sideways")
    with pytest.raises(ConfigError, match="unknown market"):
        HFTEnv("nasdaq_ticks")


def test_impact_is_capped_where_volume_is_missing(synth):
    panel = synth(200, 1, seed=4, freq="m")
    volume = np.asarray(panel["volume"]).copy()
    volume[90:131] = 0.0  # no volume in the impact window of row 130
    panel = panel.replace(fields={**panel.fields, "volume": volume})
    env = HFTEnv(
        panel,
        split="all",
        episode_length=20,
        window=3,
        vol_window=3,
        impact_window=10,
        impact="linear",
        max_impact=0.02,
        commission=0.0,
    )
    env.reset(options={"start": 130})
    _, _, _, _, info = env.step(10)  # all in: buys at open * (1 + 0.02), partial for cash
    p = np.asarray(panel["open"])[131, 0]
    assert env._state.trades[0, 0]["price"] == pytest.approx(p * 1.02, rel=1e-12)
    with pytest.raises(ConfigError, match="max_impact"):
        HFTEnv(panel, split="all", episode_length=20, max_impact=1.5)
