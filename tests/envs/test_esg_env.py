"""ESGPortfolio-v0: regulated wealth against a reference loop, publication dates, checkers."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import quantrl.envs  # noqa: F401
from quantrl.data.providers.esg import LookAheadWarning, load_esg_snapshots
from quantrl.envs import Account, Costs, ESGPortfolioEnv, PortfolioEnv
from quantrl.errors import ConfigError, DataError


def _with_scores(panel, first_row=40, seed=0):
    rng = np.random.default_rng(seed)
    q = np.tile(rng.uniform(40, 90, panel.n_symbols), (panel.n_dates, 1))
    q[first_row + 30 :] += rng.normal(0, 5, panel.n_symbols)
    q[:first_row] = np.nan
    q[first_row : first_row + 10, 0] = np.nan  # one symbol published later
    return panel.with_extras(esg_quality=q)


def test_checkers_and_make():
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make("quantrl/ESGPortfolio-v0")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    check_env(env.unwrapped, skip_render_check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check_env(ESGPortfolioEnv(split="valid"))


@pytest.mark.parametrize("gamma,theta", [(0.5, 0.1), (2.0, 0.3), (0.0, 0.0)])
def test_regulated_wealth_matches_reference_loop(synth, gamma, theta):
    panel = _with_scores(synth(160, 4, seed=3))
    env = ESGPortfolioEnv(
        panel,
        split="all",
        window=3,
        vol_window=3,
        episode_length=None,
        action_mode="weights",
        gamma=gamma,
        theta=theta,
        fees=0.001,
    )
    rng = np.random.default_rng(4)
    weights = rng.dirichlet(np.ones(5), 200)[:, :4]
    obs, info = env.reset()
    start = info["t"]
    assert start == 40  # first row with a published score
    equities, adjustments = [], []
    for w in weights[: env.episode_length]:
        _, _, _, trunc, info = env.step(w)
        equities.append(info["equity"])
        adjustments.append(info["esg_adjustment"])
        if trunc:
            break
    # reference: same account kernel, the ESG formula written out here
    q = np.asarray(panel["esg_quality"]).copy()
    for i in range(q.shape[0]):
        row = q[i]
        if np.isfinite(row).any():
            row[~np.isfinite(row)] = np.nanmean(row)
    acc = Account(4, Costs(fees=0.001))
    op, cl = np.asarray(panel["open"]), np.asarray(panel["close"])
    acc.mark[:] = cl[start]
    prev = 1e6
    ref, ref_adj = [], []
    for k, w in enumerate(weights[: len(equities)]):
        b = start + k + 1
        eq, _ = acc.step(b, op[b], cl[b], w)
        r = eq / prev - 1
        s = (w * q[b]).sum() / w.sum()
        m = q[b].mean()
        g = gamma * max(r, 0) * max(s - m, 0) / m
        tax = theta * max(r, 0) * (s < m)
        acc.account += (g - tax) * prev
        eq += (g - tax) * prev
        ref.append(eq)
        ref_adj.append(g - tax)
        prev = eq
    np.testing.assert_allclose(equities, ref, rtol=1e-9)
    np.testing.assert_allclose(adjustments, ref_adj, rtol=1e-9, atol=1e-15)
    if gamma > 0:
        assert any(a > 0 for a in ref_adj) and any(a < 0 for a in ref_adj)


def test_plain_portfolio_equals_esg_env_without_regulation(synth):
    panel = _with_scores(synth(120, 3, seed=1))
    kw = dict(split="all", window=3, vol_window=3, episode_length=60, action_mode="weights")
    esg = ESGPortfolioEnv(panel, gamma=0.0, theta=0.0, **kw)
    plain = PortfolioEnv(panel, **kw)
    w = np.array([0.2, 0.3, 0.4])
    esg.reset(options={"start": 45})
    plain.reset(options={"start": 45})
    for _ in range(60):
        a = esg.step(w)
        b = plain.step(w)
    assert a[4]["equity"] == b[4]["equity"]


def test_scores_visible_only_after_publication(dow30):
    env = ESGPortfolioEnv(dow30, split="train", seed=0)
    assert env.panel.dates[env.first_row] == np.datetime64("2021-03-03")
    table = load_esg_snapshots()
    yahoo = table.filter(table["source"] == "esg_yahoo_2021")
    scores = dict(zip(yahoo["symbol"].to_list(), yahoo["esg_quality"].to_list(), strict=True))
    n = env.n_assets
    k = env.point_feature_names.index("esg_quality")
    offset = env.window * n + k * n
    for _ in range(5):
        obs, info = env.reset()
        date = env.panel.dates[info["t"]]
        assert date >= np.datetime64("2021-03-03")
        seen = obs[offset : offset + n] * 100
        known = np.array([scores.get(s, np.nan) for s in env.symbols])
        mask = np.isfinite(known)
        assert date < np.datetime64("2023-06-30")  # only the 2021 snapshot is public here
        np.testing.assert_allclose(seen[mask], known[mask], rtol=1e-6)
        np.testing.assert_allclose(seen[~mask], known[mask].mean(), rtol=1e-5)


def test_no_look_ahead_in_prices_or_scores(synth, perturb):
    panel = _with_scores(synth(150, 3, seed=2))
    row = 100
    changed = perturb(panel, row)
    q = np.asarray(changed["esg_quality"]).copy()
    q[row + 1 :] += 7.0  # a later snapshot must not leak either
    changed = changed.with_extras(esg_quality=q)
    kw = dict(split="all", window=3, vol_window=3, episode_length=50)
    seqs = []
    for p in (panel, changed):
        env = ESGPortfolioEnv(p, **kw)
        obs, _ = env.reset(options={"start": 70})
        seq = [obs]
        for a in np.random.default_rng(0).uniform(-1, 1, (50, 4)):
            seq.append(env.step(a)[0])
        seqs.append(np.array(seq))
    k = row - 70
    np.testing.assert_array_equal(seqs[0][: k + 1], seqs[1][: k + 1])
    assert not np.array_equal(seqs[0][k + 1], seqs[1][k + 1])


def test_static_scores_warn_and_bad_inputs(synth, dow30):
    with pytest.warns(LookAheadWarning):
        env = ESGPortfolioEnv(dow30, split="train", esg_static=True, episode_length=100)
    assert env.panel.dates[env.first_row] < np.datetime64("2011-01-01")
    with pytest.raises(ConfigError, match="gamma"):
        ESGPortfolioEnv(dow30, gamma=-1.0)
    with pytest.raises(DataError, match="no ESG score"):
        ESGPortfolioEnv(dow30, split="train", split_dates=("2019-01-01", "2021-01-01"))
    env = ESGPortfolioEnv(
        _with_scores(synth(80, 3)), split="all", window=3, vol_window=3, episode_length=20
    )
    env.reset(seed=0)
    with pytest.raises(ConfigError, match="non-finite"):
        env.step(np.array([np.nan, 0, 0, 0]))


def test_seeded_resets_are_reproducible(synth):
    env = ESGPortfolioEnv(_with_scores(synth(150, 3)), split="all", window=3, vol_window=3)
    actions = np.random.default_rng(5).uniform(-1, 1, (40, 4))

    def run(seed):
        obs, info = env.reset(seed=seed)
        rows = [np.append(obs, info["t"])]
        for a in actions:
            obs, r, _, trunc, info = env.step(a)
            rows.append(np.append(obs, [r, info["esg_adjustment"]]))
            if trunc:
                break
        return rows

    for x, y in zip(run(2), run(2), strict=True):
        np.testing.assert_array_equal(x, y)


def test_equal_weights_are_not_taxed_on_rounding_noise():
    import numpy as np

    from quantrl.kernels.envs import esg_adjust_nb

    rng = np.random.default_rng(3)
    quality = rng.uniform(60, 90, 29)
    w = np.full(29, 1 / 29)  # s equals m up to rounding
    assert esg_adjust_nb(w, quality, 0.01, 0.5, 0.1) == 0.0
    low = np.where(quality < np.median(quality), 2.0, 0.0) / 29
    assert esg_adjust_nb(low, quality, 0.01, 0.5, 0.1) == -0.1 * 0.01
