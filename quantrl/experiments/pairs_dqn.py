"""Deep Q-learning statistical arbitrage on cointegrated DOW30 pairs vs a z-score rule.

Reproduces the setting of deep-Q-learning pairs trading on cointegrated pairs (Kim & Kim,
"Optimizing the pairs-trading strategy using deep reinforcement learning with trading and
stop-loss boundaries", Complexity 2019; Brim, "Deep reinforcement learning pairs trading with a
double deep Q-network", CCWC 2020): pairs selected by cointegration, a DQN that trades the
spread, compared with the classic z-score threshold rule after costs.

Pairs: every pair of the 29 DOW30 names is tested on the training split (2010-01-04 ..
2018-12-31) with the Engle-Granger procedure of ``quantrl.envs.pairs`` (OLS hedge ratio, ADF-style
t-statistic on the residual, numpy only); the pairs with the most negative statistic are traded.
Each pair gets a DQN (SB3, MlpPolicy) trained on ``PairsTrading-v0`` over the training split with
random one-year episodes; it is evaluated deterministically over the whole test split
(2021-01-04 .. 2023-12-29; the valid years 2019-2020 are unused) against the z-score rule
(enter short/long the spread at z > 2 / z < -2, exit at |z| < 0.5) on the same z-scores, hedge
ratio, fees (10 bp) and next-close fills. Both are replayed through ``run_weights``. The DQN is
built and trained through ``quantrl.agents.train_agent`` and acts through ``quantrl.agents.rollout``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantrl.agents.evaluate import rollout
from quantrl.agents.training import train_agent
from quantrl.backtest.engine import run_weights
from quantrl.backtest.result import BacktestResult
from quantrl.data import load_market
from quantrl.data.splits import DEFAULT_SPLITS
from quantrl.envs.core import split_panel
from quantrl.envs.pairs import EG_CRITICAL_5PCT, PairsTradingEnv, engle_granger, rank_pairs
from quantrl.experiments.claims import Claim
from quantrl.experiments.registry import ExperimentResult

FEES = 0.001
N_PAIRS = {True: 1, False: 3}
"""Pairs traded in a fast and a full run (the best by training-split cointegration)."""
STEPS = {True: 4000, False: 20_000}
"""DQN training steps per pair in a fast and a full run."""
DQN_KWARGS = {
    "learning_starts": 500,
    "buffer_size": 50_000,
    "exploration_fraction": 0.3,
    "target_update_interval": 500,
    "train_freq": 4,
    "batch_size": 64,
    "learning_rate": 5e-4,
    "gamma": 0.99,
    "policy_kwargs": {"net_arch": [64, 64]},
}
"""DQN settings of the study (``quantrl.agents.make_agent`` keywords)."""


def zscore_positions(z: np.ndarray, enter: float = 2.0, exit_: float = 0.5) -> np.ndarray:
    """Spread position (-1, 0, 1) decided at each row from z-scores up to that row."""
    pos = np.zeros(z.size)
    cur = 0.0
    for t in range(z.size):
        zt = z[t]
        if np.isfinite(zt):
            if cur == 0.0:
                if zt > enter:
                    cur = -1.0
                elif zt < -enter:
                    cur = 1.0
            elif abs(zt) < exit_:
                cur = 0.0
        pos[t] = cur
    return pos


def rollout_positions(env: PairsTradingEnv, policy: Any) -> np.ndarray:
    """Spread positions (-1, 0, 1; NaN after the end) a policy takes over one test episode.

    ``policy``: a model or a ``policy(obs, env)`` callable (``quantrl.agents.rollout``).
    """
    traj = rollout(policy, env)
    first = int(traj["start"])
    actions = np.asarray(traj["actions"]).reshape(-1)
    pos = np.full(env.panel.n_dates, np.nan)
    pos[:first] = 0.0
    pos[first : first + actions.size] = actions - 1
    return pos


def positions_to_weights(env: PairsTradingEnv, pos: np.ndarray) -> np.ndarray:
    """(T, 2) target weights of spread positions (NaN rows stay NaN: keep the position)."""
    return pos[:, None] * env.target_weights(2)[None, :]


PAPER = (
    "intraday (minute) prices of cointegrated stock pairs; a DQN trained per pair picks "
    "trading/stop-loss actions on the spread; compared with fixed z-score thresholds after costs"
)
OURS = (
    "daily DOW30 closes; pairs by Engle-Granger on 2010-2018; a DQN (short/flat/long spread) "
    "per pair trained on 2010-2018, tested on 2021-2023; 10 bp fees, next-close fills"
)
CLAIMS = (
    Claim(
        "dqn_sharpe_positive",
        "the DQN's pairs trading earns a positive Sharpe ratio out of sample after costs",
        metric="dqn_sharpe",
        threshold=0.0,
        paper=PAPER,
        ours=OURS + "; mean test Sharpe over the traded pairs",
        differs="daily bars instead of minute bars, 3 pairs, 20k DQN steps per pair",
    ),
    Claim(
        "dqn_beats_zscore",
        "the DQN beats the z-score threshold rule on the same pairs after costs",
        metric="dqn_sharpe",
        baseline="zscore_sharpe",
        paper=PAPER,
        ours=OURS + "; rule: enter at |z| > 2, exit at |z| < 0.5, same fees and fills",
        differs="daily bars instead of minute bars; the DQN has no separate stop-loss action",
    ),
    Claim(
        "pairs_stay_cointegrated",
        "pairs selected as cointegrated in training stay cointegrated out of sample",
        metric="test_cointegrated_share",
        threshold=0.5,
        paper="pairs chosen by cointegration tests on the formation period are traded in the "
        "trading period on the assumption that the relation persists",
        ours="share of the traded pairs whose test-split Engle-Granger ADF t-statistic is "
        f"below the 5% critical value ({EG_CRITICAL_5PCT}); claimed: more than half",
        differs="daily DOW30 closes over 2021-2023 rather than intraday formation/trading "
        "windows; an ADF t-statistic against an approximate critical value, no p-values",
    ),
    Claim(
        "high_frequency_profit",
        "the strategy profits at high (intraday) frequency",
        paper="minute bars within the trading day",
        ours="daily DOW30 bars only",
        differs="no intraday stock data are bundled",
        testable=False,
        reason="the study trades daily DOW30 bars; the bundled data have no intraday stock pairs",
    ),
)
"""The paper's claims the study tests."""


def out_of_sample_adf_t(env: PairsTradingEnv) -> float:
    """Engle-Granger ADF t-statistic of the pair on the env's evaluated rows (re-fitted beta)."""
    close = np.asarray(env.panel["close"], dtype=np.float64)[env.first_row :]
    return engle_granger(np.log(close[:, 0]), np.log(close[:, 1]))["adf_t"]


class PairsDQNExperiment:
    """DQN (short / flat / long spread) vs the z-score rule on Engle-Granger pairs."""

    name = "pairs_dqn"
    title = "Deep Q-learning statistical arbitrage on DOW30 pairs"
    claims = CLAIMS

    def run(self, out_dir: Path, *, fast: bool, seed: int) -> ExperimentResult:
        """Select pairs on train, train a DQN per pair, evaluate both policies on test."""

        panel = load_market("dow30")
        split_dates = DEFAULT_SPLITS["dow30"]
        train = split_panel(panel, "train", split_dates, 0)
        ranked = rank_pairs(train)
        n_pairs = N_PAIRS[fast]
        steps = STEPS[fast]
        rows = []
        sharpes: dict[str, list[float]] = {"DQN": [], "z-score rule": []}
        test_t: list[float] = []
        backtests: dict[str, BacktestResult] = {}
        windows: dict[str, tuple[Any, Any]] = {"pair selection": (train.dates[0], train.dates[-1])}
        selection = pd.DataFrame(ranked[:10], columns=["a", "b", "beta", "adf_t"]).rename_axis(
            "rank"
        )
        for a, b, beta, tstat in ranked[:n_pairs]:
            kw = {"pair": (a, b), "beta": beta, "fees": FEES}
            env = PairsTradingEnv(panel, split="train", split_dates=split_dates, **kw)
            windows["train"] = (env.panel.dates[env.first_row], env.panel.dates[-1])
            model = train_agent(
                "quantrl/PairsTrading-v0",
                algo="dqn",
                timesteps=steps,
                market=panel,
                split_dates=split_dates,
                seed=seed,
                env_kwargs={**kw, "episode_length": 252},
                algo_kwargs=DQN_KWARGS,
            ).model
            test = PairsTradingEnv(
                panel, split="test", split_dates=split_dates, episode_length=None, **kw
            )
            windows["test"] = (test.panel.dates[test.first_row], test.panel.dates[-1])
            tstat_test = out_of_sample_adf_t(test)
            test_t.append(tstat_test)
            policies = {
                "DQN": rollout_positions(test, model),
                "z-score rule": zscore_positions(test.zscore),
            }
            policies["z-score rule"][: test.first_row] = 0.0
            policies["z-score rule"][test.last_row :] = np.nan
            for name, pos in policies.items():
                w = positions_to_weights(test, pos)
                res = run_weights(test.panel, w, fees=FEES, execution="next_close")
                stats = res.stats()
                held = pos[test.first_row : test.last_row]
                rows.append(
                    {
                        "pair / policy": f"{a}-{b} / {name}",
                        "adf_t_train": tstat,
                        "adf_t_test": tstat_test,
                        "total_return": float(stats["Total return"]),
                        "sharpe": float(stats["Sharpe ratio"]),
                        "max_drawdown": float(stats["Max drawdown"]),
                        "days_in_market": float(np.mean(held != 0)),
                        "position_changes": int(np.sum(np.diff(held) != 0)),
                    }
                )
                backtests[f"{a}-{b} {name}"] = res
                sharpes[name].append(float(stats["Sharpe ratio"]))
        table = pd.DataFrame(rows).set_index("pair / policy")
        notes = [
            f"pairs: top {n_pairs} of {len(ranked)} DOW30 pairs by Engle-Granger ADF t-statistic "
            f"(1 lag, no constant) on the training split; 5% critical value about "
            f"{EG_CRITICAL_5PCT}; the hedge ratio is fixed from training",
            f"DQN: {steps} steps per pair, one-year episodes with random starts, seed {seed}",
            f"both policies: fees {FEES} on traded notional, fill at the next close, gross 1",
        ]
        measurements = {
            "dqn_sharpe": float(np.mean(sharpes["DQN"])),
            "zscore_sharpe": float(np.mean(sharpes["z-score rule"])),
            "test_cointegrated_share": float(np.mean(np.asarray(test_t) < EG_CRITICAL_5PCT)),
            "test_adf_t": float(np.mean(test_t)),
        }
        return ExperimentResult(
            table=table,
            backtests=backtests,
            notes=notes,
            extra_tables={"Pair ranking (training split)": selection},
            windows=windows,
            measurements=measurements,
        )


__all__ = [
    "CLAIMS",
    "DQN_KWARGS",
    "PairsDQNExperiment",
    "positions_to_weights",
    "rollout_positions",
    "out_of_sample_adf_t",
    "zscore_positions",
]
