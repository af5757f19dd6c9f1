"""Deep Q-learning statistical arbitrage on cointegrated minute-bar pairs vs a z-score rule.

Reproduces the setting of deep-Q-learning pairs trading on cointegrated pairs (Kim & Kim,
"Optimizing the pairs-trading strategy using deep reinforcement learning with trading and
stop-loss boundaries", Complexity 2019; Brim, "Deep reinforcement learning pairs trading with a
double deep Q-network", CCWC 2020): pairs selected by cointegration, a DQN that trades the
spread at high frequency, compared with the classic z-score threshold rule after costs.

Data: Binance.US 1-minute bars of BTCUSD, BTCUSDC and BTCUSDT (``binanceus_minute``, 1-21 March
2023), split by rows into train (first 70 %), valid (next 15 %, unused) and test (last 15 %).
Pairs: statsmodels' Engle-Granger ``coint`` p-value of every pair on the training split, Holm
corrected over the pairs tried (``quantrl.stats.cointegration``); the pairs significant at 5 %
are traded (when none is, every pair is traded, lowest p-value first, and the notes say so). Each pair gets
a DQN (SB3, MlpPolicy) trained on ``PairsTrading-v0`` over the training split with random one-day
episodes; it is evaluated deterministically over the whole test split against the z-score rule
(enter short/long the spread at z > 2 / z < -2, exit at |z| < 0.5) on the same 60-minute
z-scores, hedge ratio, cost per trade (``COST``) and next-close fills. Both are replayed through
``run_weights``. The DQN is built and trained through ``quantrl.agents.train_agent`` and acts
through ``quantrl.agents.rollout``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantrl.agents.evaluate import rollout
from quantrl.agents.training import train_agent
from quantrl.backtest.engine import run_weights
from quantrl.backtest.result import BacktestResult
from quantrl.data import load_market
from quantrl.envs.core import fraction_split_dates, split_panel
from quantrl.envs.pairs import PairsTradingEnv
from quantrl.experiments.claims import Claim
from quantrl.experiments.registry import ExperimentResult
from quantrl.stats.cointegration import coint_pairs, coint_pvalue

MARKET = "binanceus_minute"
"""The bundled minute bars the study trades."""
COST = 0.0001
"""Cost per trade: 1 bp of traded notional (half a bid-ask spread; no exchange fee is added)."""
ALPHA = 0.05
"""Family-wise level of the Holm-corrected cointegration tests."""
WINDOW = 60
"""Minutes in the spread's rolling z-score."""
EPISODE = 1440
"""Minutes in a training episode (one day)."""
MAX_PAIRS = {True: 1, False: 3}
"""Most pairs traded in a fast and a full run (the significant ones, lowest p-value first)."""
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
    "Binance.US 1-minute BTCUSD/BTCUSDC/BTCUSDT bars (March 2023); pairs by Engle-Granger "
    "p-values, Holm-corrected, on the first 70 %; a DQN (short/flat/long spread) per pair "
    "trained there, tested on the last 15 %; 1 bp per trade, next-minute fills"
)
CLAIMS = (
    Claim(
        "dqn_sharpe_positive",
        "the DQN's pairs trading earns a positive Sharpe ratio out of sample after costs",
        metric="dqn_sharpe",
        threshold=0.0,
        paper=PAPER,
        ours=OURS + "; mean test Sharpe over the traded pairs (a flat policy counts 0)",
        differs="three quotes of one asset (BTC in USD, USDT, USDC) instead of stock pairs; "
        "3 days of test minutes; 20k DQN steps per pair",
    ),
    Claim(
        "dqn_beats_zscore",
        "the DQN beats the z-score threshold rule on the same pairs after costs",
        metric="dqn_sharpe",
        baseline="zscore_sharpe",
        paper=PAPER,
        ours=OURS + "; rule: enter at |z| > 2, exit at |z| < 0.5, same costs and fills",
        differs="BTC quote pairs instead of stock pairs; the DQN has no separate stop-loss "
        "action; one cost level (1 bp per trade)",
    ),
    Claim(
        "pairs_stay_cointegrated",
        "pairs selected as cointegrated in training stay cointegrated out of sample",
        metric="test_cointegrated_share",
        threshold=0.5,
        paper="pairs chosen by cointegration tests on the formation period are traded in the "
        "trading period on the assumption that the relation persists",
        ours="share of the Holm-selected pairs whose Engle-Granger p-value on the test split is "
        "below 0.05; claimed: more than half (no measurement when no pair is selected)",
        differs="3 candidate pairs of BTC quotes; the training window holds the USDC de-peg "
        "of 10-13 March 2023",
    ),
    Claim(
        "stock_pairs",
        "the strategy profits on intraday pairs of stocks",
        paper="minute bars of US stock pairs",
        ours="minute bars of BTC quoted in USD, USDT and USDC",
        differs="no intraday stock data are bundled",
        testable=False,
        reason="the bundled minute data hold no stock pairs (only BTC quotes and FX)",
    ),
)
"""The paper's claims the study tests."""


def out_of_sample_pvalue(env: PairsTradingEnv) -> float:
    """Engle-Granger p-value of the pair on the env's evaluated rows (re-fitted hedge ratio)."""
    close = np.asarray(env.panel["close"], dtype=np.float64)[env.first_row :]
    return coint_pvalue(np.log(close[:, 0]), np.log(close[:, 1]))[1]


@cache
def _selection(market: str) -> pd.DataFrame:
    panel = load_market(market)
    train = split_panel(panel, "train", fraction_split_dates(panel), 0)
    return coint_pairs(train, alpha=ALPHA)


def training_selection(market: str = MARKET) -> pd.DataFrame:
    """Cointegration of every pair of ``market`` on its training rows (Holm-corrected)."""
    return _selection(market).copy()


def selected_share(selected: np.ndarray, test_p: list[float], level: float = 0.05) -> float:
    """Share of the selected pairs with a test p-value below ``level``; NaN when none is selected."""
    chosen = np.asarray(test_p, dtype=np.float64)[np.asarray(selected, dtype=bool)]
    return float(np.mean(chosen < level)) if chosen.size else float("nan")


def finite_sharpe(value: float) -> float:
    """A Sharpe ratio, 0 for a policy that never trades (no return variance: NaN)."""
    return float(value) if np.isfinite(value) else 0.0


class PairsDQNExperiment:
    """DQN (short / flat / long spread) vs the z-score rule on Engle-Granger pairs."""

    name = "pairs_dqn"
    title = "Deep Q-learning statistical arbitrage on minute-bar BTC quote pairs"
    claims = CLAIMS

    def run(self, out_dir: Path, *, fast: bool, seed: int) -> ExperimentResult:
        """Select pairs on train, train a DQN per pair, evaluate both policies on test."""

        panel = load_market(MARKET)
        split_dates = fraction_split_dates(panel)
        train = split_panel(panel, "train", split_dates, 0)
        selection = training_selection(MARKET)
        traded = selection[selection["selected"]]
        if traded.empty:
            traded = selection
        traded = traded.iloc[: MAX_PAIRS[fast]]
        steps = STEPS[fast]
        rows = []
        sharpes: dict[str, list[float]] = {"DQN": [], "z-score rule": []}
        test_p: list[float] = []
        backtests: dict[str, BacktestResult] = {}
        windows: dict[str, tuple[Any, Any]] = {"pair selection": (train.dates[0], train.dates[-1])}
        for a, b, beta, p_train, p_holm in traded[["a", "b", "beta", "p", "p_holm"]].itertuples(
            index=False
        ):
            kw = {"pair": (a, b), "beta": beta, "fees": COST, "window": WINDOW}
            env = PairsTradingEnv(panel, split="train", split_dates=split_dates, **kw)
            windows["train"] = (env.panel.dates[env.first_row], env.panel.dates[-1])
            model = train_agent(
                "quantrl/PairsTrading-v0",
                algo="dqn",
                timesteps=steps,
                market=panel,
                split_dates=split_dates,
                seed=seed,
                env_kwargs={**kw, "episode_length": EPISODE},
                algo_kwargs=DQN_KWARGS,
            ).model
            test = PairsTradingEnv(
                panel, split="test", split_dates=split_dates, episode_length=None, **kw
            )
            windows["test"] = (test.panel.dates[test.first_row], test.panel.dates[-1])
            p_test = out_of_sample_pvalue(test)
            test_p.append(p_test)
            policies = {
                "DQN": rollout_positions(test, model),
                "z-score rule": zscore_positions(test.zscore),
            }
            policies["z-score rule"][: test.first_row] = 0.0
            policies["z-score rule"][test.last_row :] = np.nan
            for name, pos in policies.items():
                w = positions_to_weights(test, pos)
                res = run_weights(test.panel, w, fees=COST, execution="next_close")
                stats = res.stats()
                held = pos[test.first_row : test.last_row]
                rows.append(
                    {
                        "pair / policy": f"{a}-{b} / {name}",
                        "p_train": p_train,
                        "p_holm_train": p_holm,
                        "p_test": p_test,
                        "total_return": float(stats["Total return"]),
                        "sharpe": finite_sharpe(stats["Sharpe ratio"]),
                        "max_drawdown": float(stats["Max drawdown"]),
                        "time_in_market": float(np.mean(held != 0)),
                        "position_changes": int(np.sum(np.diff(held) != 0)),
                    }
                )
                backtests[f"{a}-{b} {name}"] = res
                sharpes[name].append(finite_sharpe(stats["Sharpe ratio"]))
        table = pd.DataFrame(rows).set_index("pair / policy")
        chosen = "significant" if bool(traded["selected"].all()) else "NOT significant"
        notes = [
            f"pairs: {len(traded)} of {len(selection)} {MARKET} pairs traded, Engle-Granger "
            f"p-values (statsmodels coint, AIC lags) on the training split, Holm-corrected at "
            f"{ALPHA}: the traded pairs are {chosen}; the hedge ratio is fixed from training",
            f"DQN: {steps} steps per pair, one-day episodes with random starts, seed {seed}",
            f"both policies: {WINDOW}-minute z-scores, {COST:g} of traded notional per trade, "
            "fill at the next minute's close, gross 1",
        ]
        measurements = {
            "dqn_sharpe": float(np.mean(sharpes["DQN"])),
            "zscore_sharpe": float(np.mean(sharpes["z-score rule"])),
            "test_cointegrated_share": selected_share(traded["selected"].to_numpy(), test_p),
            "traded_test_cointegrated_share": float(np.mean(np.asarray(test_p) < 0.05)),
            "test_coint_p": float(np.mean(test_p)),
            "train_selected_share": float(selection["selected"].mean()),
        }
        return ExperimentResult(
            table=table,
            backtests=backtests,
            notes=notes,
            extra_tables={"Cointegration of every pair (training split)": selection},
            windows=windows,
            measurements=measurements,
        )


__all__ = [
    "ALPHA",
    "CLAIMS",
    "COST",
    "DQN_KWARGS",
    "MARKET",
    "PairsDQNExperiment",
    "positions_to_weights",
    "finite_sharpe",
    "out_of_sample_pvalue",
    "rollout_positions",
    "selected_share",
    "training_selection",
    "zscore_positions",
]
