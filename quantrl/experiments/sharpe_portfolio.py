"""Dynamic portfolio optimisation with a Sharpe-ratio reward and random training windows.

Reproduces Huang, Zhou & Song, "A Deep Reinforcement Learning Framework for Dynamic Portfolio
Optimization: Evidence from China's Stock Market" (arXiv:2412.18563): an actor-critic agent with
an average-Sharpe-ratio reward, training episodes drawn at random start dates and an image-based
(CNN) network over the (window x assets x features) history of CSI 300 constituents, benchmarked
against econometric optimisation models. Ours: PPO on ``Portfolio-v0`` over an S&P 500 subset
(the most liquid names with a full 2013-2018 history, ranked by mean dollar volume on the
training split only), trained on 2013-02-08 .. 2016-06-30 with random episode starts, evaluated
deterministically over the whole test split 2017-01-01 .. 2018-02-07 (the valid split
2016-07-01 .. 2016-12-31 is not used). Compared: PPO with ``reward="sharpe"`` (rolling Sharpe
ratio of the episode's returns), the same with a CNN over the return window
(``quantrl.agents.extractors.WindowCNN``), PPO with ``reward="log_return"``, 1/N rebalanced
daily, and the econometric baselines of ``quantrl.backtest.allocation`` (minimum variance,
maximum Sharpe, risk parity; long-only, estimated on the trailing 252 daily returns up to each
decision, re-estimated every 5 rows); all with the same fees (10 bp) and next-open execution.
The agents train through ``quantrl.agents.train_agent`` (batched PPO) and act through
``quantrl.agents.rollout``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantrl.agents.evaluate import rollout, trajectory_weights
from quantrl.agents.extractors import WindowCNN
from quantrl.agents.factory import BATCHED_N_ENVS
from quantrl.agents.training import train_agent
from quantrl.backtest.allocation import trailing_weights
from quantrl.backtest.engine import run_weights
from quantrl.backtest.result import BacktestResult
from quantrl.data import load_market
from quantrl.data.panel import Panel
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.errors import DataError
from quantrl.experiments.claims import Claim
from quantrl.experiments.registry import ExperimentResult

SPLIT_DATES = ("2016-07-01", "2017-01-01")
FEES = 0.001
TEMPERATURE = 5.0
WINDOW = 20
"""Rows of returns in the observation (the env's default window), the CNN's image height."""
LOOKBACK = 252
REESTIMATE_EVERY = 5
ECONOMETRIC = {
    "min variance": "min_variance",
    "max Sharpe": "max_sharpe",
    "risk parity": "risk_parity",
}
"""Econometric baselines (policy name -> ``quantrl.backtest.allocation`` method)."""

PAPER = (
    "CSI 300 constituents drawn at random; actor-critic agent with an average-Sharpe-ratio "
    "reward, training windows sampled at random, image-based (CNN) network over the "
    "(window x assets x features) price history; benchmarks: econometric optimisation models"
)
OURS = (
    "30 most liquid S&P 500 names (10 in --fast), daily bars, train 2013-2016H1, test "
    "2017-01..2018-02; batched PPO with an MLP (2 x 64) over the flattened 20-day return "
    "window, volatility and weights; random 126-day training episodes; 250k PPO steps per "
    "agent; 10 bp fees, next-open fills; test Sharpe per seed"
)

ECON_OURS = (
    "; long-only baseline weights from the sample mean and covariance of the trailing 252 "
    "daily returns (no look-ahead), re-estimated weekly, same fees and fills"
)
ECON_DIFFERS = (
    "US large caps instead of CSI 300; MLP instead of a CNN; our estimation window and "
    "weekly re-estimation are our choice, not necessarily the paper's"
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "positive_sharpe",
        "The Sharpe-reward agent earns a positive Sharpe ratio out of sample",
        metric="ppo_sharpe_sharpe",
        threshold=0.0,
        paper="the Sharpe reward gives stable training and a positive average Sharpe ratio",
        ours=OURS,
        differs="US large caps instead of CSI 300; MLP instead of a CNN; a 13-month test "
        "window in a rising market; a small PPO budget",
    ),
    Claim(
        "beats_equal_weight",
        "The Sharpe-reward agent's test Sharpe ratio beats the 1/N portfolio's",
        metric="ppo_sharpe_sharpe",
        baseline="equal_weight_sharpe",
        paper=PAPER + "; the agent shows superior risk-adjusted performance",
        ours=OURS + "; 1/N rebalanced daily with the same fees",
        differs="US large caps instead of CSI 300; MLP instead of a CNN; a small PPO budget",
    ),
    Claim(
        "sharpe_beats_log_return",
        "The Sharpe-ratio reward gives a higher test Sharpe ratio than a log-return reward",
        metric="ppo_sharpe_sharpe",
        baseline="ppo_log_return_sharpe",
        paper="the proposed Sharpe-ratio reward is the key to the agent's performance",
        ours=OURS + "; same seed, budget and network for both rewards",
        differs="our Sharpe reward is the rolling 20-step Sharpe ratio of the episode's "
        "returns, not the paper's exact average-Sharpe formulation; MLP instead of a CNN",
    ),
    Claim(
        "lower_drawdown",
        "The Sharpe-reward agent has a smaller test maximum drawdown than 1/N",
        metric="ppo_sharpe_max_drawdown",
        baseline="equal_weight_max_drawdown",
        paper="the model mitigates investment risk",
        ours=OURS + "; max drawdown is negative, so larger is smaller in magnitude",
        differs="a single 13-month test window; MLP instead of a CNN",
    ),
    Claim(
        "beats_min_variance",
        "The Sharpe-reward agent's test Sharpe ratio beats the minimum-variance portfolio's",
        metric="ppo_sharpe_sharpe",
        baseline="min_variance_sharpe",
        paper=PAPER + " (minimum variance among them)",
        ours=OURS + ECON_OURS,
        differs=ECON_DIFFERS,
    ),
    Claim(
        "beats_max_sharpe",
        "The Sharpe-reward agent's test Sharpe ratio beats the mean-variance "
        "(maximum-Sharpe) portfolio's",
        metric="ppo_sharpe_sharpe",
        baseline="max_sharpe_sharpe",
        paper=PAPER + " (Markowitz mean-variance among them)",
        ours=OURS + ECON_OURS,
        differs=ECON_DIFFERS,
    ),
    Claim(
        "beats_risk_parity",
        "The Sharpe-reward agent's test Sharpe ratio beats the risk-parity portfolio's",
        metric="ppo_sharpe_sharpe",
        baseline="risk_parity_sharpe",
        paper=PAPER + " (risk parity among them)",
        ours=OURS + ECON_OURS,
        differs=ECON_DIFFERS,
    ),
    Claim(
        "cnn_network",
        "The image-based (CNN) network improves the Sharpe-reward agent (test Sharpe ratio)",
        metric="ppo_sharpe_cnn_sharpe",
        baseline="ppo_sharpe_sharpe",
        paper="a CNN over the (window x assets x features) history is part of the framework",
        ours=OURS + "; the same agent with WindowCNN (two time convolutions shared by the "
        "assets over the 20 x 30 return image) in front of the MLP head",
        differs="a small CNN of our design over one feature (log returns), not the paper's "
        "network over several price features; same step budget as the MLP agent",
    ),
)
"""The paper's claims and how this study tests them."""


def slug(policy: str) -> str:
    """Measurement prefix of a policy name: ``"PPO log_return"`` -> ``"ppo_log_return"``."""
    return "equal_weight" if policy == "1/N" else policy.lower().replace(" ", "_")


def liquid_universe(panel: Panel, n: int, before: str) -> list[str]:
    """The ``n`` symbols with a complete history, ranked by mean dollar volume before ``before``."""
    close, open_ = panel["close"], panel["open"]
    full = np.isfinite(close).all(axis=0) & np.isfinite(open_).all(axis=0)
    past = panel.dates < np.datetime64(before)
    dollar = np.full(panel.n_symbols, -np.inf)
    dollar[full] = np.mean(close[past][:, full] * panel["volume"][past][:, full], axis=0)
    order = np.argsort(-dollar, kind="stable")[:n]
    return sorted(panel.symbols[i] for i in order)


def train_ppo(
    panel: Panel, reward: str, steps: int, seed: int, episode_length: int, cnn: bool = False
) -> Any:
    """PPO on the training split with random episode starts (``quantrl.agents.train_agent``).

    ``cnn``: the policy and value networks read the return window through ``WindowCNN`` (a
    convolution along time shared by the assets) instead of the flat MLP input.
    """
    policy_kwargs = None
    if cnn:
        policy_kwargs = {
            "features_extractor_class": WindowCNN,
            "features_extractor_kwargs": {"n_assets": panel.n_symbols, "window": WINDOW},
        }
    outcome = train_agent(
        "quantrl/Portfolio-v0",
        algo="ppo",
        timesteps=steps,
        market=panel,
        split_dates=SPLIT_DATES,
        seed=seed,
        env_kwargs={
            "episode_length": episode_length,
            "reward": reward,
            "fees": FEES,
            "temperature": TEMPERATURE,
        },
        policy_kwargs=policy_kwargs,
    )
    return outcome.model


def econometric_weights(panel: Panel, seg: Panel, first_row: int) -> dict[str, np.ndarray]:
    """Minimum-variance, maximum-Sharpe and risk-parity weights on ``seg``'s rows.

    Estimated from the ``LOOKBACK`` daily returns up to each decision row only (rows of ``panel``
    before the segment included), re-estimated every ``REESTIMATE_EVERY`` rows; all cash (0)
    before ``first_row``, like 1/N.
    """
    offset = int(np.searchsorted(panel.dates, seg.dates[0]))
    if not np.array_equal(panel.dates[offset : offset + seg.n_dates], seg.dates):
        raise DataError("the segment's dates are not a run of the panel's dates", rule="dates")
    out = {}
    for label, method in ECONOMETRIC.items():
        w = trailing_weights(
            panel["close"],
            method,
            lookback=LOOKBACK,
            every=REESTIMATE_EVERY,
            start=offset + first_row,
        )[offset : offset + seg.n_dates]
        w[:first_row] = 0.0
        out[label] = w
    return out


class SharpePortfolioExperiment:
    """PPO with Sharpe / DSR / log-return rewards vs 1/N on an S&P 500 subset."""

    name = "sharpe_portfolio"
    title = "Sharpe-reward PPO portfolio with random training windows (S&P 500 subset)"
    claims = CLAIMS

    def run(self, out_dir: Path, *, fast: bool, seed: int) -> ExperimentResult:
        """Train each agent on the train split and evaluate all policies on the test split."""
        n_assets = 10 if fast else 30
        steps = 2048 if fast else 250_000
        rewards = ("sharpe", "log_return")
        episode_length = 63 if fast else 126
        full = load_market("sp500")
        symbols = liquid_universe(full, n_assets, SPLIT_DATES[0])
        panel = full.select(symbols)

        test_env = PortfolioEnv(
            panel,
            split="test",
            split_dates=SPLIT_DATES,
            episode_length=None,
            fees=FEES,
            temperature=TEMPERATURE,
        )
        seg = test_env.panel
        kw = {"fees": FEES, "execution": "next_open"}
        backtests: dict[str, BacktestResult] = {}
        rows = []
        equal = np.full((seg.n_dates, seg.n_symbols), 1.0 / seg.n_symbols)
        equal[: test_env.first_row] = 0.0
        backtests["1/N"] = run_weights(seg, equal, **kw)
        for label, weights in econometric_weights(panel, seg, test_env.first_row).items():
            backtests[label] = run_weights(seg, weights, **kw)
        train_env = PortfolioEnv(panel, split="train", split_dates=SPLIT_DATES)
        tr = train_env.panel
        windows = {
            "train": (tr.dates[0], tr.dates[-1]),
            "test": (seg.dates[test_env.first_row], seg.dates[-1]),
        }
        agents = [(f"PPO {reward}", reward, False) for reward in rewards]
        agents.append(("PPO sharpe CNN", "sharpe", True))
        for label, reward, cnn in agents:
            model = train_ppo(panel, reward, steps, seed, episode_length, cnn=cnn)
            weights = trajectory_weights(rollout(model, test_env), seg.n_dates)
            backtests[label] = run_weights(seg, weights, **kw)
        for name, res in backtests.items():
            stats = res.stats()
            turnover = float(
                np.nansum(np.abs(res.trades["size"] * res.trades["price"])) / res.init_cash
            )
            rows.append(
                {
                    "policy": name,
                    "total_return": float(stats["Total return"]),
                    "sharpe": float(stats["Sharpe ratio"]),
                    "sortino": float(stats["Sortino ratio"]),
                    "max_drawdown": float(stats["Max drawdown"]),
                    "turnover_x_init_cash": turnover,
                }
            )
        table = pd.DataFrame(rows).set_index("policy")
        measurements = {
            f"{slug(name)}_{col}": float(table.loc[name, col])
            for name in table.index
            for col in ("sharpe", "max_drawdown")
        }
        notes = [
            f"universe: {len(symbols)} S&P 500 names with full history, most liquid by mean "
            f"dollar volume on the training split: {', '.join(symbols)}",
            f"PPO: {steps} steps per agent, episodes of {episode_length} days with random starts "
            f"on the training split ({BATCHED_N_ENVS['ppo']} in parallel, batched), seed {seed}; "
            "evaluation deterministic over the whole test split; 'PPO sharpe CNN' reads the "
            f"{WINDOW} x {len(symbols)} return window through WindowCNN (time convolutions shared "
            "by the assets) before the same MLP head",
            f"all policies pay fees {FEES} per unit traded and fill at the next open",
            "econometric baselines (min variance, max Sharpe, risk parity): long-only weights "
            f"from the sample mean / covariance of the trailing {LOOKBACK} daily returns up to "
            f"each decision, re-estimated every {REESTIMATE_EVERY} rows",
        ]
        return ExperimentResult(
            table=table,
            backtests=backtests,
            notes=notes,
            windows=windows,
            measurements=measurements,
        )


__all__ = [
    "CLAIMS",
    "SharpePortfolioExperiment",
    "econometric_weights",
    "liquid_universe",
    "slug",
    "train_ppo",
]
