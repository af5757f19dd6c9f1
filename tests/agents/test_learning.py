"""Agents learn a planted edge: on held-out data the trained policy beats a random policy and the
naive allocation by a clear margin; the same criterion rejects random, naive and (for continuous
actions, whose untrained mean action is near zero) untrained policies.

Portfolio-v0 / ESGPortfolio-v0: a synthetic panel where asset 0 drifts up 0.2% a day and the
others have no drift; the test split (later dates, never trained on) is scored by the total
return of the deterministic policy over the whole split. HFT-v0: one synthetic minute series
with a steady up-drift; scored by the mean log return of test episodes. In both, holding the
drifting asset is the planted edge: the criterion asks the trained policy to capture at least
half of the gap between the naive allocation (1/N, or flat) and the best constant one (all in
asset 0, or full long), and to beat the mean of random policies.
"""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.agents import make_agent, rollout, train_agent
from quantrl.agents.training import make_train_env
from quantrl.data.panel import Panel
from quantrl.envs import ESGPortfolioEnv, HFTEnv, PortfolioEnv

pytestmark = pytest.mark.slow

SPLIT = ("2016-06-01", "2016-09-01")
"""Split dates of the 700-day drift panel: about 510 train rows, 90 valid, 95 test."""

PORTFOLIO_KW = {"window": 5, "vol_window": 5, "fees": 0.001}
HFT_KW = {"window": 10, "vol_window": 10, "impact_window": 10}
HFT_EPISODE = 60


def drift_panel(n_bars: int = 700, n_assets: int = 4, seed: int = 0, *, minute: bool = False):
    """OHLCV panel: asset 0 drifts up (0.2% a day, or 0.1% a minute), the others do not."""
    rng = np.random.default_rng(seed)
    drift = np.zeros(n_assets)
    drift[0] = 0.002 if minute else 0.002
    vol = 0.001 if minute else 0.01
    close = 50.0 * np.exp(np.cumsum(rng.normal(drift, vol, (n_bars, n_assets)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    step = np.timedelta64(1, "m") if minute else np.timedelta64(1, "D")
    return Panel(
        dates=np.datetime64("2015-01-01T00:00", "ns") + np.arange(n_bars) * step,
        symbols=tuple(f"S{j}" for j in range(n_assets)),
        fields={
            "open": open_,
            "high": np.maximum(open_, close) * 1.0005,
            "low": np.minimum(open_, close) * 0.9995,
            "close": close,
            "volume": np.full(close.shape, 1e9),
        },
        meta={"name": "drift"},
    )


def with_esg(panel: Panel) -> Panel:
    """The panel with constant, distinct ESG scores (asset 0 neither best nor worst)."""
    q = np.tile(np.linspace(40.0, 90.0, panel.n_symbols)[[1, 0, 2, 3]], (panel.n_dates, 1))
    return panel.with_extras(esg_quality=q)


def total_return(policy, env) -> float:
    """Total return of one deterministic episode over ``env``'s whole split."""
    equity = rollout(policy, env)["equity"]
    return float(equity[-1] / equity[0] - 1.0)


def random_policy(seed: int):
    """Uniform random actions from their own generator."""
    rng = np.random.default_rng(seed)

    def act(obs, env):
        space = env.action_space
        if hasattr(space, "n"):
            return int(rng.integers(space.n))
        return rng.uniform(space.low, space.high).astype(np.float32)

    return act


def assert_learned(score, trained, naive: float, best: float, randoms, untrained=None) -> None:
    """``trained`` captures half the naive-to-best gap and beats random; ``untrained`` does not.

    (A network's untrained greedy choice among discrete levels is one level picked by its random
    initialisation, which may be the best one: HFT's untrained models are not checked.)
    """
    bar = naive + 0.5 * (best - naive)
    random_mean = float(np.mean([score(p) for p in randoms]))
    assert best > naive + 0.05, "the planted edge is too small to test learning"
    got = score(trained)
    assert got > bar and got > random_mean, (got, bar, random_mean)
    if untrained is not None:
        assert score(untrained) <= bar, "the criterion does not separate an untrained network"


# ------------------------------------------------------------------ portfolio
@pytest.fixture(scope="module")
def drift():
    return drift_panel()


def _portfolio_test(panel, cls=PortfolioEnv):
    return cls(panel, split="test", split_dates=SPLIT, episode_length=None, **PORTFOLIO_KW)


def _portfolio_check(outcome, untrained, panel, cls=PortfolioEnv) -> None:
    n = panel.n_symbols
    ones = np.concatenate([np.ones(n), [-1.0]])
    best = np.concatenate([[1.0], -np.ones(n)])

    def score(policy):
        return total_return(policy, _portfolio_test(panel, cls))

    assert_learned(
        score,
        outcome.model,
        untrained=untrained,
        naive=score(lambda o, e: ones),
        best=score(lambda o, e: best),
        randoms=[random_policy(s) for s in range(3)],
    )


def _untrained(algo, panel, cls_id, seed, n_envs=None, **kw):
    """The same kind of model, seeded alike, before any learning."""
    venv = make_train_env(
        cls_id,
        algo=algo,
        n_envs=n_envs,
        market=panel,
        env_kwargs=kw,
        split_dates=SPLIT,
        seed=seed,
    )
    return make_agent(algo, venv, seed=seed)


@pytest.mark.parametrize(("algo", "steps"), [("ppo", 40_000), ("a2c", 60_000)])
def test_batched_on_policy_agents_learn_the_drifting_asset(algo, steps, drift):
    kw = {**PORTFOLIO_KW, "episode_length": 40}
    outcome = train_agent(
        "quantrl/Portfolio-v0",
        algo=algo,
        timesteps=steps,
        market=drift,
        split_dates=SPLIT,
        env_kwargs=kw,
        seed=0,
    )
    assert outcome.n_envs >= 64  # the batched env
    untrained = _untrained(algo, drift, "quantrl/Portfolio-v0", 0, **kw)
    _portfolio_check(outcome, untrained, drift)


def test_single_env_ppo_learns_the_drifting_asset(drift):
    kw = {**PORTFOLIO_KW, "episode_length": 40}
    outcome = train_agent(
        "quantrl/Portfolio-v0",
        algo="ppo",
        timesteps=12_000,
        n_envs=1,
        market=drift,
        split_dates=SPLIT,
        env_kwargs=kw,
        seed=0,
        algo_kwargs={"learning_rate": 1e-3},
    )
    assert outcome.n_envs == 1
    untrained = _untrained("ppo", drift, "quantrl/Portfolio-v0", 0, n_envs=1, **kw)
    _portfolio_check(outcome, untrained, drift)


def test_ppo_learns_on_esg_env(drift):
    panel = with_esg(drift)
    kw = {**PORTFOLIO_KW, "episode_length": 40}
    outcome = train_agent(
        "quantrl/ESGPortfolio-v0",
        algo="ppo",
        timesteps=40_000,
        market=panel,
        split_dates=SPLIT,
        env_kwargs=kw,
        seed=0,
    )
    assert outcome.n_envs >= 64
    untrained = _untrained("ppo", panel, "quantrl/ESGPortfolio-v0", 0, **kw)
    _portfolio_check(outcome, untrained, panel, ESGPortfolioEnv)


# ------------------------------------------------------------------ HFT
@pytest.fixture(scope="module")
def trend():
    return drift_panel(6000, 1, seed=1, minute=True)


def _hft_check(model, panel) -> None:
    test = HFTEnv(panel, split="test", episode_length=HFT_EPISODE, **HFT_KW)
    starts = test.chunk_starts

    def score(policy):
        return float(
            np.mean(
                [np.log(rollout(policy, test, start=int(s))["equity"][-1] / 1e6) for s in starts]
            )
        )

    n = test.action_space.n
    assert_learned(
        score,
        model,
        naive=score(lambda o, e: n // 2),
        best=score(lambda o, e: n - 1),
        randoms=[random_policy(s) for s in range(3)],
    )


@pytest.mark.parametrize(
    ("algo", "steps", "algo_kwargs"),
    [
        (
            "dqn",
            15_000,
            {"learning_starts": 500, "exploration_fraction": 0.3, "learning_rate": 1e-3},
        ),
        ("ppo", 8_192, {"n_steps": 512, "learning_rate": 1e-3}),
    ],
)
def test_agents_learn_to_ride_the_hft_trend(algo, steps, algo_kwargs, trend):
    kw = {**HFT_KW, "episode_length": HFT_EPISODE}
    outcome = train_agent(
        "quantrl/HFT-v0",
        algo=algo,
        timesteps=steps,
        market=trend,
        env_kwargs=kw,
        seed=0,
        algo_kwargs=algo_kwargs,
    )
    assert outcome.n_envs == 1  # no batched HFT env
    _hft_check(outcome.model, trend)


@pytest.mark.parametrize("broken", ["random", "naive", "cash"])
def test_the_criterion_rejects_policies_that_did_not_learn(broken, drift, trend):
    n = drift.n_symbols
    ones = np.concatenate([np.ones(n), [-1.0]])
    best = np.concatenate([[1.0], -np.ones(n)])
    cash = np.concatenate([-np.ones(n), [1.0]])

    def score(policy):
        return total_return(policy, _portfolio_test(drift))

    fake = {"random": random_policy(7), "naive": lambda o, e: ones, "cash": lambda o, e: cash}
    with pytest.raises(AssertionError):
        assert_learned(
            score,
            fake[broken],
            naive=score(lambda o, e: ones),
            best=score(lambda o, e: best),
            randoms=[random_policy(s) for s in range(3)],
        )
    with pytest.raises(AssertionError):
        _hft_check(random_policy(7) if broken == "random" else (lambda o, e: 6), trend)
