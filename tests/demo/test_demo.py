"""The main demo job (``quantrl.demo``) in fast mode: report with every figure, summary rows,
determinism, the CLI."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from quantrl.cli.demo import STRATEGY_NAMES, demo_strategies
from quantrl.demo import ALPHA_COLUMNS, POOL_NAME, PPO_NAME, run_demo

FIGURES = ("equity", "drawdown", "rolling_sharpe", "weights", "monthly_returns", "alpha_ic")


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    return run_demo(
        tmp_path_factory.mktemp("demo"), strategies=demo_strategies(), fast=True, seed=0
    )


def test_report_has_every_figure_and_table(summary):
    assert summary.report.exists() and summary.report.name == "report.html"
    text = summary.report.read_text()
    assert summary.figures == FIGURES
    for name in FIGURES:
        assert f"id='fig-{name}'" in text
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) == len(FIGURES)
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert "Alpha pool (AlphaEval" in text and "Deflated Sharpe ratio" in text
    for name in (*STRATEGY_NAMES, PPO_NAME):
        assert f"<th>{name}</th>" in text.replace("&#x27;", "'")


def test_summary_rows_and_values(summary, dow30):
    assert list(summary.table.index) == [*STRATEGY_NAMES, PPO_NAME]
    assert np.isfinite(summary.table.to_numpy()).all()
    assert (summary.table["Max drawdown"] <= 0).all()
    # the 1/N row against a plain 1/N target rebalanced every 21 rows (NaN = hold) on the same rows
    from quantrl.backtest import run_weights
    from quantrl.data.splits import market_split

    test = market_split(dow30, "test", warmup=252)
    targets = np.full(test.shape, np.nan)
    targets[::21] = 1.0 / test.n_symbols
    plain = run_weights(test, targets, fees=0.001)
    assert summary.table.loc["1/N", "Total return"] == pytest.approx(plain.total_return, rel=1e-9)
    k = len(summary.formulas)
    assert list(summary.alpha_table.index) == [f"alpha {i + 1}" for i in range(k)] + [POOL_NAME]
    assert set(ALPHA_COLUMNS) <= set(summary.alpha_table.columns)
    assert summary.alpha_table["formula"].iloc[:k].tolist() == summary.formulas
    members = summary.alpha_table.iloc[:k]
    finite = members[np.isfinite(members["ic"])]
    assert len(finite) >= 1
    assert ((finite["pps"] - 0.5 * (finite["ic"] + finite["rank_ic"])).abs() < 1e-12).all()
    assert ((finite["rre"] > 0) & (finite["rre"] <= 1)).all()
    saved = json.loads(summary.pool_file.read_text())
    assert [m["formula"] for m in saved["members"]] == summary.formulas
    assert [m["weight"] for m in saved["members"]] == pytest.approx(summary.pool_weights)


def test_ppo_weights_are_long_only_and_decided_in_the_test_split(summary):
    from quantrl.data import load_market
    from quantrl.data.splits import market_split
    from quantrl.demo import DemoBudget, agent_test_weights, train_demo_agent

    test = market_split(load_market("dow30"), "test", warmup=252)
    model = train_demo_agent(DemoBudget(ppo_steps=128, ppo_n_envs=16), seed=1, fees=0.001)
    assert model.n_envs == 16 and model.num_timesteps == 128  # the batched env, one rollout
    w = agent_test_weights(model, test, fees=0.001)
    assert w.shape == test.shape
    assert (w[: test.warmup] == 0).all()  # no decisions in the warm-up history
    active = w[test.warmup : -1]
    assert (active > 0).all() and (active.sum(axis=1) < 1).all()  # softmax leaves some cash
    # replayed on the test rows, the weights give the equity the env itself reports
    from quantrl.agents import evaluate_agent
    from quantrl.backtest import run_weights
    from quantrl.envs import PortfolioEnv

    env = PortfolioEnv("dow30", split="test", episode_length=None, fees=0.001, temperature=5.0)
    direct = evaluate_agent(model, env)
    replay = run_weights(test, w, fees=0.001)
    assert replay.dates[0] == direct.dates[0]
    np.testing.assert_allclose(replay.equity, direct.equity, rtol=1e-9)


def test_cli_is_deterministic_and_prints_the_summary(summary, tmp_path):
    import typer
    from typer.testing import CliRunner

    from quantrl.cli.demo import demo_command

    app = typer.Typer()
    app.command()(demo_command)
    res = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--fast", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for row in (*STRATEGY_NAMES, PPO_NAME, POOL_NAME, "dow30", "sp500"):
        assert row in res.output
    assert "report.html" in res.output.replace("\n", "")
    again = json.loads((tmp_path / "alpha_pool.json").read_text())
    assert [m["formula"] for m in again["members"]] == summary.formulas
    first = json.loads(summary.pool_file.read_text())
    assert [m["weight"] for m in again["members"]] == [m["weight"] for m in first["members"]]


def test_report_renders_in_headless_chromium(summary, headless_chromium):
    import matplotlib.image as mpimg

    shot, dom = headless_chromium(summary.report.as_uri(), height=4800)
    pixels = mpimg.imread(shot)[..., :3]
    colored = np.abs(pixels - pixels.mean(axis=-1, keepdims=True)).max(axis=-1) > 0.15
    rows = np.flatnonzero(colored.any(axis=1))
    assert colored.mean() > 0.01 and rows.max() - rows.min() > 2000
    assert dom.count("<img") == len(FIGURES)
    assert "Sharpe ratio" in dom and POOL_NAME in dom


def _planted(strength: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = rng.normal(size=(300, 40))
    factor = strength * label + rng.normal(size=label.shape)
    return factor, label


def _series(strength: float, seeds: range, label_seed: int = 0) -> dict[int, np.ndarray]:
    """Per seed, the per-date RankIC (scipy) of a factor planted with ``strength`` on one label."""
    import scipy.stats as sps

    _, label = _planted(0.0, label_seed)
    out = {}
    for s in seeds:
        noise = np.random.default_rng(100 + s).normal(size=label.shape)
        factor = strength * label + noise
        out[s] = np.array(
            [sps.spearmanr(f, y).statistic for f, y in zip(factor, label, strict=True)]
        )
    return out


def _hac(series: np.ndarray, lags: int = 19) -> tuple[float, float]:
    """Mean and Newey-West standard error (statsmodels directly)."""
    import statsmodels.api as sm

    fit = sm.OLS(series, np.ones(series.size)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    return float(series.mean()), float(fit.bse[0])


def test_pool_verdict_states_seeds_ci_and_the_reference():
    import scipy.stats as sps

    from quantrl.demo.steps import pool_verdict

    strong = _series(0.5, range(5))
    reference = _series(0.05, range(99, 100))[99]
    verdict = pool_verdict(strong, reference, horizon=20)
    assert verdict.startswith("The mined pools hold up on the test split: over 5 seeds")
    # seed means and their t-interval, by hand
    means = np.array([strong[s].mean() for s in range(5)])
    half = sps.t.ppf(0.975, 4) * means.std(ddof=1) / np.sqrt(5)
    assert (
        f"{means.mean():+.4f} [{means.mean() - half:+.4f}, {means.mean() + half:+.4f}]" in verdict
    )
    assert all(f"seed {s} {means[s]:+.4f}" in verdict for s in range(5))
    # the seeds' per-date average and its Newey-West t; the difference to the reference
    average = np.mean([strong[s] for s in range(5)], axis=0)
    mean, se = _hac(average)
    assert f"Newey-West t {mean / se:.2f} (19 lags, 300 dates)" in verdict
    d_mean, d_se = _hac(average - reference)
    z = sps.norm.ppf(0.975)
    assert f"(test RankIC {reference.mean():+.4f})" in verdict
    assert f"{d_mean:+.4f} [{d_mean - z * d_se:+.4f}, {d_mean + z * d_se:+.4f}]" in verdict
    assert verdict.endswith("the pools are above it.")
    # the pools against themselves: no difference; against a stronger reference: below it
    assert pool_verdict(strong, average, horizon=20).endswith("no difference shown.")
    stronger = _series(1.0, range(7, 8))[7]
    assert pool_verdict(strong, stronger, horizon=20).endswith("the pools are below it.")


def test_pool_verdict_claims_nothing_from_one_seed_or_a_weak_or_negative_pool():
    from quantrl.demo.steps import pool_verdict

    strong = _series(0.5, range(1))
    reference = np.zeros(300)
    one = pool_verdict(strong, reference, horizon=20)
    assert one.startswith("No reliable edge at this budget: the pool's combined test RankIC is")
    assert "one seed is no claim" in one
    negative = {s: -x for s, x in _series(0.5, range(3)).items()}
    assert pool_verdict(negative, reference, horizon=20).startswith("This budget found nothing")
    weak = _series(0.0, range(3), label_seed=3)
    text = pool_verdict(weak, reference, horizon=20)
    assert text.startswith(("No reliable edge", "This budget found nothing"))
    # an edge carried by one lucky seed: the seeds' average is significant over dates, but the
    # CI over seeds straddles 0
    lucky = {0: strong[0], 1: 0.02 * strong[0], 2: -0.02 * strong[0]}
    text = pool_verdict(lucky, reference, horizon=20)
    assert text.startswith("No reliable edge") and "Newey-West t " in text
    average = np.mean(list(lucky.values()), axis=0)
    mean, se = _hac(average)
    assert mean / se > 2.0 and f"Newey-West t {mean / se:.2f}" in text


def test_pool_verdict_and_mining_refuse_bad_input():
    from quantrl.demo import DemoBudget, mine_pools
    from quantrl.demo.steps import pool_verdict
    from quantrl.errors import ConfigError

    series = _series(0.5, range(2))
    with pytest.raises(ConfigError, match="reference series"):
        pool_verdict(series, np.zeros(299), horizon=20)
    with pytest.raises(ConfigError, match="at least one seed"):
        pool_verdict({}, np.zeros(300), horizon=20)
    with pytest.raises(ConfigError, match="mine_seeds must be >= 1"):
        mine_pools(DemoBudget(mine_seeds=0), seed=0)


def test_demo_summary_states_the_pool_verdict(summary):
    assert summary.pool_verdict.endswith(".")
    ric = summary.alpha_table.loc[POOL_NAME, "rank_ic"]
    assert list(summary.seed_rank_ics) == [0, 1]  # the fast budget mines two seeds
    assert summary.seed_rank_ics[0] == pytest.approx(ric, abs=1e-12)
    for s, value in summary.seed_rank_ics.items():
        assert f"seed {s} {value:+.4f}" in summary.pool_verdict
    assert "20-day reversal" in summary.pool_verdict
