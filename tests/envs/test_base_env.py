"""The shared base of the four environments: configuration records, flat keywords, episodes,
reset options, action checks, registration, checkers and seeded determinism."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

import quantrl.envs  # noqa: F401  (registers the ids)
from quantrl.envs import (
    ActionConfig,
    Costs,
    ESGConfig,
    ESGPortfolioEnv,
    HFTEnv,
    ImpactConfig,
    LevelConfig,
    ObservationConfig,
    PairsTradingEnv,
    PortfolioEnv,
    RewardConfig,
    SpreadConfig,
    TradingEnv,
)
from quantrl.errors import ConfigError

SMALL = dict(split="all", window=3, vol_window=3)
HFT_SMALL = dict(split="all", window=3, vol_window=3, impact_window=5)
PAIR = dict(pair=("S0", "S1"), beta=0.8)


def _esg_panel(panel):
    q = np.tile(np.linspace(40, 90, panel.n_symbols), (panel.n_dates, 1))
    return panel.with_extras(esg_quality=q)


def _make(kind, synth, **kw):
    """A small env of each kind on a synthetic panel."""
    if kind == "portfolio":
        return PortfolioEnv(synth(120, 3, seed=1), **{**SMALL, "episode_length": 20, **kw})
    if kind == "esg":
        panel = _esg_panel(synth(120, 3, seed=2))
        return ESGPortfolioEnv(panel, **{**SMALL, "episode_length": 20, **kw})
    if kind == "hft":
        panel = synth(300, 1, seed=3, freq="m")
        return HFTEnv(panel, **{**HFT_SMALL, "episode_length": 20, **kw})
    panel = synth(150, 2, seed=4)
    return PairsTradingEnv(panel, split="all", episode_length=20, **{**PAIR, **kw})


KINDS = ["portfolio", "esg", "hft", "pairs"]


def test_every_env_is_a_trading_env_without_its_own_reset():
    for cls in (PortfolioEnv, ESGPortfolioEnv, HFTEnv, PairsTradingEnv):
        assert issubclass(cls, TradingEnv)
        for name in ("reset", "step", "_draw_start", "start_row"):
            assert name not in cls.__dict__, f"{cls.__name__} overrides {name}"


def test_flat_keywords_and_records_build_the_same_env(synth):
    panel = synth(120, 3, seed=5)
    flat = PortfolioEnv(
        panel,
        split="all",
        episode_length=30,
        fees=0.002,
        slippage=0.001,
        window=4,
        vol_window=5,
        reward="dsr",
        reward_eta=0.05,
        action_mode="long_short",
        temperature=3.0,
    )
    records = PortfolioEnv(
        panel,
        split="all",
        episode_length=30,
        costs=Costs(fees=0.002, slippage=0.001),
        observation=ObservationConfig(window=4, vol_window=5),
        reward=RewardConfig("dsr", eta=0.05),
        actions={"mode": "long_short", "temperature": 3.0},  # a dict of the record's fields
    )
    assert flat.config == records.config
    assert flat.costs == Costs(fees=0.002, slippage=0.001)
    actions = np.random.default_rng(0).uniform(-1, 1, (30, 3))
    for env in (flat, records):
        obs, _ = env.reset(options={"start": 40})
        seq = [obs]
        for a in actions:
            seq.append(np.append(env.step(a)[0], env.equity))
        env.seq = np.concatenate(seq)
    np.testing.assert_array_equal(flat.seq, records.seq)


def test_gym_make_takes_flat_keywords_and_records():
    env = gym.make("quantrl/Portfolio-v0", fees=0.001)
    assert env.unwrapped.costs.fees == 0.001
    env = gym.make("quantrl/Portfolio-v0", costs=Costs(fees=0.002, execution="next_close"))
    assert env.unwrapped.costs == Costs(fees=0.002, execution="next_close")
    env.reset(seed=0)
    env.step(env.action_space.sample())


def test_unknown_or_conflicting_keywords_are_config_errors(synth):
    panel = synth(80, 2)
    with pytest.raises(ConfigError, match="unknown keyword 'fee'.*valid keywords:.*fees"):
        PortfolioEnv(panel, split="all", fee=0.001)
    with pytest.raises(ConfigError, match="unknown keyword 'fees'.*commission"):
        HFTEnv(synth(200, 1, freq="m"), split="all", fees=0.001)
    with pytest.raises(ConfigError, match="not both"):
        PortfolioEnv(panel, split="all", costs=Costs(), fees=0.002)
    with pytest.raises(ConfigError, match="costs must be a Costs record"):
        PortfolioEnv(panel, split="all", costs=0.001)
    with pytest.raises(ConfigError, match="unknown field"):
        PortfolioEnv(panel, split="all", costs={"fess": 0.001})
    with pytest.raises(ConfigError, match="technicals or factors"):
        HFTEnv(
            synth(200, 1, freq="m"), split="all", observation=ObservationConfig(technicals=("rsi",))
        )
    with pytest.raises(ConfigError, match="unknown keyword"):
        gym.make("quantrl/Portfolio-v0", rewardz="dsr")


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Costs(fees=1.5), "fees"),
        (lambda: Costs(fees=1.0), "fees"),
        (lambda: Costs(fees=-0.1), "fees"),
        (lambda: Costs(fees=float("nan")), "fees"),
        (lambda: Costs(fees="0.1"), "fees"),
        (lambda: Costs(slippage=1.0), "slippage"),
        (lambda: Costs(fixed_fees=-1.0), "fixed_fees"),
        (lambda: Costs(max_leverage=0.0), "max_leverage"),
        (lambda: Costs(execution="same_close"), "execution"),
        (lambda: RewardConfig("sortino"), "reward"),
        (lambda: RewardConfig(eta=0.0), "reward_eta"),
        (lambda: RewardConfig(window=1), "reward_window"),
        (lambda: ActionConfig(mode="argmax"), "action_mode"),
        (lambda: ActionConfig(temperature=0.0), "temperature"),
        (lambda: ObservationConfig(window=0), "window"),
        (lambda: ObservationConfig(vol_window=1), "vol_window"),
        (lambda: ObservationConfig(technicals=("macd",)), "technical"),
        (lambda: ObservationConfig(technicals="rsi"), "technicals"),
        (lambda: ESGConfig(gamma=-1.0), "gamma"),
        (lambda: LevelConfig(n_levels=1), "n_levels"),
        (lambda: LevelConfig(max_position=np.inf), "max_position"),
        (lambda: ImpactConfig(model="cubic"), "impact"),
        (lambda: ImpactConfig(max_impact=1.5), "max_impact"),
        (lambda: ImpactConfig(volume_unit="lots"), "volume_unit"),
        (lambda: SpreadConfig(window=1), "window"),
    ],
)
def test_records_validate_their_fields(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


def test_fees_above_one_rejected_through_every_env(synth):
    with pytest.raises(ConfigError, match="fees"):
        gym.make("quantrl/Portfolio-v0", fees=1.5)
    with pytest.raises(ConfigError, match="fees"):
        _make("hft", synth, commission=2.0)
    with pytest.raises(ConfigError, match="fees"):
        _make("pairs", synth, fees=1.0)


def test_episode_length_none_through_gym_make_runs_the_whole_split():
    env = gym.make("quantrl/Portfolio-v0", split="test", episode_length=None)
    base = env.unwrapped
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        done = term or trunc
        steps += 1
    assert steps == base.last_row - base.first_row > 252
    limited = gym.make(
        "quantrl/Portfolio-v0", split="test", episode_length=None, max_episode_steps=5
    )
    limited.reset(seed=0)
    flags = [limited.step(limited.action_space.sample())[3] for _ in range(5)]
    assert flags == [False] * 4 + [True]  # an explicit limit still applies


def test_alpha_miner_is_registered_by_importing_envs():
    code = (
        "import sys, gymnasium as gym, quantrl.envs\n"
        "spec = gym.spec('quantrl/AlphaMiner-v0')\n"
        "assert spec.entry_point == 'quantrl.mining.env:AlphaMinerEnv', spec.entry_point\n"
        "assert 'quantrl.mining' not in sys.modules\n"
        "import quantrl.mining\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("kind", KINDS)
def test_reset_options_are_validated(synth, kind):
    env = _make(kind, synth)
    lo, hi = env.start_rows
    for bad in (["start", lo], "start", 5):
        with pytest.raises(ConfigError, match="options must be a dict"):
            env.reset(options=bad)
    with pytest.raises(ConfigError, match="unknown reset option"):
        env.reset(options={"begin": lo})
    for bad in (lo + 0.5, [lo], True, None.__class__):
        with pytest.raises(ConfigError, match="start"):
            env.reset(options={"start": bad})
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ConfigError, match="outside the allowed rows"):
            env.reset(options={"start": bad})
    with pytest.raises(ConfigError, match="seed"):
        env.reset(seed="7")
    _, info = env.reset(options={"start": hi})
    assert info["t"] == hi == env.t
    date = env.panel.dates[lo + 3]
    for value in (date, str(date)[:19]):
        assert env.reset(options={"start": value})[1]["t"] == lo + 3
    assert env.reset(options={})[1]["t"] >= lo


@pytest.mark.parametrize("kind", KINDS)
def test_sequential_sampling_tiles_the_split_in_every_env(synth, kind):
    env = _make(kind, synth, sampling="sequential")
    first, length = env.first_row, env.episode_length
    n_ep = (env.last_row - first) // length
    starts = [env.reset()[1]["t"] for _ in range(n_ep + 2)]
    assert starts == [first + (k % n_ep) * length for k in range(n_ep + 2)]
    assert env.reset(seed=1)[1]["t"] == first  # a seed restarts the tiling


@pytest.mark.parametrize("kind", KINDS)
def test_checkers_and_seeded_determinism(synth, kind):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    check_env(_make(kind, synth), skip_render_check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check_env(_make(kind, synth))
    env = _make(kind, synth)
    actions = [env.action_space.sample() for _ in range(60)]

    def run(seed):
        rows = []
        obs, info = env.reset(seed=seed)
        rows.append(np.append(obs, info["t"]))
        for a in actions:
            obs, r, term, trunc, info = env.step(a)
            rows.append(np.append(obs, [r, info["equity"]]))
            if term or trunc:
                obs, info = env.reset()
                rows.append(np.append(obs, info["t"]))
        return np.concatenate(rows)

    np.testing.assert_array_equal(run(11), run(11))
    assert not np.array_equal(run(11), run(12))


@pytest.mark.parametrize("kind", ["hft", "pairs"])
@pytest.mark.parametrize("bad", [1e20, -1, 2.5, np.nan, np.inf, "a", [1, 2], True])
def test_bad_discrete_actions_are_config_errors(synth, kind, bad):
    env = _make(kind, synth)
    env.reset(seed=0)
    with pytest.raises(ConfigError, match="action"):
        env.step(bad)
    env.step(1)  # the episode is still usable


def test_box_actions_out_of_range_are_documented(synth):
    env = _make("portfolio", synth, action_mode="weights")
    env.reset(seed=0)
    env.step(np.array([1e20, 0.0, 0.0]))  # scaled down to gross max_leverage
    np.testing.assert_allclose(env.weights[:3], [env.weights[0], 0, 0])
    assert env.weights[0] > 0.9
    with pytest.raises(ConfigError, match="too large"):
        env.step(np.array([1e308, 1e308, 0.0]))
    with pytest.raises(ConfigError, match="non-finite"):
        env.step(np.array([np.inf, 0.0, 0.0]))
    with pytest.raises(ConfigError, match="array of numbers"):
        env.step(["a", "b", "c"])
    soft = _make("portfolio", synth)
    soft.reset(seed=0)
    soft.step(np.array([1e20, -1e20, 0.0, 0.0]))  # softmax saturates: all in asset 0
    assert soft.weights[0] > 0.99


@pytest.mark.parametrize("kind", KINDS)
def test_inspection_properties(synth, kind):
    env = _make(kind, synth)
    _, info = env.reset(options={"start": env.first_row + 2})
    assert env.t == info["t"] and env.date == env.panel.dates[env.t]
    assert env.equity == env.cash == env.costs.init_cash
    np.testing.assert_array_equal(env.weights, [0.0] * env.n_assets + [1.0])
    action = 0 if kind in ("hft", "pairs") else env.action_space.sample()
    _, _, _, _, info = env.step(action)
    assert env.equity == info["equity"]
    assert env.weights.sum() == pytest.approx(1.0)
    assert env.positions.shape == (env.n_assets,)


def test_split_history_never_reaches_past_the_split(dow30):
    for kind in ("valid", "test"):
        env = PairsTradingEnv(dow30, split=kind, pair=("KO", "VZ"), beta=0.75)
        assert env.panel.warmup == env.window + env.n_lags
        start = np.datetime64("2019-01-01" if kind == "valid" else "2021-01-01")
        assert env.panel.dates[env.first_row] >= start
    assert env.panel.dates[-1] == dow30.dates[-1]
    valid = PairsTradingEnv(dow30, split="valid", pair=("KO", "VZ"), beta=0.75)
    assert valid.panel.dates[-1] < np.datetime64("2021-01-01")
