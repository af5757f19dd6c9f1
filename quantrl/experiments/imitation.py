"""Imitation warm start (after QTNet): behaviour cloning from traditional tactics, then PPO.

Reproduces the imitative deep RL of QTNet ("Deep Reinforcement Learning for Quantitative
Trading", arXiv:2312.15730, after iRDPG, Liu et al., AAAI 2020): a recurrent agent on
minute-frequency data that imitates traditional trading tactics (behaviour cloning from
demonstrations) and is refined by reinforcement learning, compared with RL from scratch, the
tactics themselves and buy-and-hold.

Teachers (``quantrl.experiments.tactics``): MA crossover, mean reversion and momentum, each
deciding at the close of row t from past closes only. The teacher imitated is the tactic with
the best Sharpe ratio on the training split (the test split plays no part in the choice).
Behaviour cloning fits the mean action of the SB3 PPO policy network to the teacher's actions
(MSE, Adam) on one sequential pass over the training split (2010-2018, DOW30); PPO then
fine-tunes for the rest of the budget. Budget: the BC pass consumes as many environment steps as
it has samples, so the warm-started agent gets ``budget - n_samples`` PPO steps and the agent
from scratch ``budget``. Evaluation: deterministic, whole test split (2021-2023; the valid years
are unused), 10 bp fees, next-open fills, against 1/N and the three tactics in the same env.
Agents are built and trained through ``quantrl.agents`` (batched PPO; the behaviour cloning runs
as ``train_agent``'s ``pretrain`` step) and act through ``quantrl.agents.rollout``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from quantrl.agents.evaluate import rollout, trajectory_weights
from quantrl.agents.factory import make_agent
from quantrl.agents.training import make_train_env, train_agent
from quantrl.backtest.engine import run_weights
from quantrl.backtest.result import BacktestResult
from quantrl.data import load_market
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.experiments.claims import Claim
from quantrl.experiments.registry import ExperimentResult
from quantrl.experiments.tactics import TACTICS, tactic_policy

FEES = 0.001
TEMPERATURE = 5.0

PAPER = (
    "minute bars of futures / stocks; a POMDP agent (recurrent deterministic policy gradient) "
    "that imitates traditional tactics (demonstrations, behaviour cloning), then RL"
)
OURS = (
    "DOW30 daily bars (10 names in --fast), train 2010-2018, test 2021-2023; PPO with an MLP on "
    "the portfolio env (softmax weights over the assets and cash); behaviour cloning of the "
    "tactic (MA crossover / mean reversion / momentum) with the best training-split Sharpe "
    "ratio, then PPO at the same total step budget as PPO from scratch (300k steps); 10 bp "
    "fees, next-open fills; test Sharpe per seed"
)
DIFFERS = (
    "daily bars instead of minute bars; PPO with an MLP instead of a recurrent DPG; plain "
    "behaviour cloning before RL instead of a demonstration buffer and a Q-filtered BC loss "
    "during RL; one teacher (chosen on the training split) instead of the paper's set-up; a "
    "portfolio of 29 stocks instead of one instrument; a small step budget"
)


def _beats_tactic(key: str, name: str) -> Claim:
    return Claim(
        f"beats_{key}",
        f"The imitative agent beats the {name} tactic (test Sharpe ratio)",
        metric="bc_ppo_sharpe",
        baseline=f"{key}_sharpe",
        paper=PAPER + "; the agent outperforms the traditional tactics",
        ours=OURS + f"; the {name} tactic trades the same assets with the same fees and fills",
        differs=DIFFERS + f"; our {name} rule and its windows (5 / 20 days) are our choice",
    )


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "bc_rl_beats_scratch",
        "Behaviour cloning then RL beats RL from scratch (test Sharpe ratio)",
        metric="bc_ppo_sharpe",
        baseline="ppo_scratch_sharpe",
        paper=PAPER + "; the imitative agent outperforms the same agent without imitation",
        ours=OURS,
        differs=DIFFERS,
    ),
    Claim(
        "rl_improves_on_cloning",
        "RL fine-tuning improves on the cloned policy alone (test Sharpe ratio)",
        metric="bc_ppo_sharpe",
        baseline="bc_only_sharpe",
        paper=PAPER + "; imitation balances exploration, RL adapts beyond the demonstrations",
        ours=OURS + "; the cloned policy before any PPO step is the baseline",
        differs=DIFFERS,
    ),
    Claim(
        "positive_sharpe",
        "The imitative agent earns a positive Sharpe ratio out of sample",
        metric="bc_ppo_sharpe",
        threshold=0.0,
        paper=PAPER + "; profitable, positive risk-adjusted returns on the test period",
        ours=OURS,
        differs=DIFFERS,
    ),
    Claim(
        "beats_buy_and_hold",
        "The imitative agent beats buy-and-hold (here 1/N) on the test Sharpe ratio",
        metric="bc_ppo_sharpe",
        baseline="equal_weight_sharpe",
        paper=PAPER + "; compared with buy-and-hold of the instrument",
        ours=OURS + "; 1/N rebalanced daily with the same fees stands in for buy-and-hold",
        differs=DIFFERS,
    ),
    *(_beats_tactic(key, name) for key, name in TACTICS.items()),
)
"""The paper's claims and how this study tests them."""


def slug(policy: str) -> str:
    """Measurement prefix of a policy name: ``"BC + PPO"`` -> ``"bc_ppo"``."""
    if policy == "1/N":
        return "equal_weight"
    return "_".join(policy.lower().replace("+", " ").split())


def demonstrations(env: PortfolioEnv, tactic: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(obs, action) pairs of ``tactic`` over one sequential pass of ``env``, and its trajectory."""
    seen: list[np.ndarray] = []
    teacher = tactic_policy(env.panel, tactic)

    def recording(obs: np.ndarray, env: Any) -> np.ndarray:
        seen.append(obs)
        return teacher(obs, env)

    traj = rollout(recording, env)
    obs = np.asarray(seen, dtype=np.float32)
    return obs, np.asarray(traj["actions"], dtype=np.float32), traj


def behaviour_clone(
    model: Any, obs: np.ndarray, actions: np.ndarray, epochs: int, seed: int
) -> list[float]:
    """Fit the policy's mean action to ``actions`` (MSE, Adam); returns the loss per epoch."""

    policy = model.policy
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(obs)
    y = torch.as_tensor(actions)
    params = [p for n, p in policy.named_parameters() if not n.startswith("value_net")]
    opt = torch.optim.Adam(params, lr=1e-3)
    losses = []
    policy.set_training_mode(True)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        total = 0.0
        for i in range(0, x.shape[0], 64):
            idx = perm[i : i + 64]
            dist = policy.get_distribution(x[idx])
            loss = torch.mean((dist.distribution.mean - y[idx]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        losses.append(total / x.shape[0])
    policy.set_training_mode(False)
    return losses


def teacher_table(env: PortfolioEnv) -> tuple[pd.DataFrame, str]:
    """Each tactic's Sharpe ratio over ``env``'s split, and the best tactic's key."""
    rows = []
    for key, name in TACTICS.items():
        traj = rollout(tactic_policy(env.panel, key), env)
        res = run_weights(env.panel, trajectory_weights(traj, env.panel.n_dates), fees=FEES)
        rows.append({"tactic": name, "key": key, "sharpe": float(res.stats()["Sharpe ratio"])})
    table = pd.DataFrame(rows).set_index("tactic")
    return table, str(table["key"].iloc[int(np.argmax(table["sharpe"].to_numpy()))])


class ImitationExperiment:
    """BC from a traditional tactic + PPO fine-tuning vs PPO from scratch and the tactics."""

    name = "imitation"
    title = "Imitation warm start: behaviour cloning from trading tactics, then PPO (DOW30)"
    claims = CLAIMS

    def run(self, out_dir: Path, *, fast: bool, seed: int) -> ExperimentResult:
        """Choose the teacher on train, clone it, train both agents, evaluate all on test."""

        panel = load_market("dow30")
        if fast:
            panel = panel.select(list(panel.symbols[:10]))
        budget = 4096 if fast else 300_000
        epochs = 5 if fast else 30
        kw = {"fees": FEES, "temperature": TEMPERATURE}
        data_env = PortfolioEnv(
            panel, split="train", episode_length=None, sampling="sequential", **kw
        )
        teachers, teacher = teacher_table(data_env)
        obs, acts, _ = demonstrations(data_env, teacher)
        n = int(obs.shape[0])

        train_kw = {**kw, "episode_length": 252}
        bc_only = make_agent(
            "ppo", make_train_env(market=panel, env_kwargs=train_kw, seed=seed), seed=seed
        )
        losses = behaviour_clone(bc_only, obs, acts, epochs, seed)
        bc_state = {k: v.clone() for k, v in bc_only.policy.state_dict().items()}
        agents: dict[str, Any] = {"BC only": bc_only}
        common = {"market": panel, "env_kwargs": train_kw, "seed": seed}
        agents["BC + PPO"] = train_agent(
            timesteps=max(budget - n, 512),
            pretrain=lambda model: model.policy.load_state_dict(bc_state),
            **common,
        ).model
        agents["PPO scratch"] = train_agent(timesteps=budget, **common).model

        test = PortfolioEnv(panel, split="test", episode_length=None, **kw)
        seg = test.panel
        backtests: dict[str, BacktestResult] = {}
        equal = np.full((seg.n_dates, seg.n_symbols), 1.0 / seg.n_symbols)
        equal[: test.first_row] = 0.0
        backtests["1/N"] = run_weights(seg, equal, fees=FEES)
        for key, name in TACTICS.items():
            traj = rollout(tactic_policy(seg, key), test)
            backtests[name] = run_weights(seg, trajectory_weights(traj, seg.n_dates), fees=FEES)
        for name, model in agents.items():
            weights = trajectory_weights(rollout(model, test), seg.n_dates)
            backtests[name] = run_weights(seg, weights, fees=FEES)
        rows = []
        for name, res in backtests.items():
            st = res.stats()
            rows.append(
                {
                    "policy": name,
                    "total_return": float(st["Total return"]),
                    "sharpe": float(st["Sharpe ratio"]),
                    "max_drawdown": float(st["Max drawdown"]),
                }
            )
        table = pd.DataFrame(rows).set_index("policy")
        measurements = {f"{slug(k)}_sharpe": float(table.loc[k, "sharpe"]) for k in backtests}
        tr = data_env.panel
        windows = {
            "train (demonstrations, RL)": (tr.dates[data_env.first_row], tr.dates[-1]),
            "test": (seg.dates[test.first_row], seg.dates[-1]),
        }
        notes = [
            f"universe: {panel.n_symbols} DOW30 names; budget {budget} env steps per agent: "
            f"BC uses {n} demonstrations (one pass) + {max(budget - n, 512)} PPO steps",
            f"teacher: {TACTICS[teacher]}, the tactic with the best training-split Sharpe ratio "
            "(see 'Tactics on the training split')",
            f"BC: {epochs} epochs of MSE on the policy mean; loss first/last epoch "
            f"{losses[0]:.4f} / {losses[-1]:.4f}",
            f"seed {seed}; fees {FEES}; next-open fills for every policy",
        ]
        bc_table = pd.DataFrame({"epoch": np.arange(1, epochs + 1), "mse": losses}).set_index(
            "epoch"
        )
        return ExperimentResult(
            table=table,
            backtests=backtests,
            notes=notes,
            extra_tables={
                "Tactics on the training split": teachers,
                "Behaviour-cloning loss": bc_table,
            },
            windows=windows,
            measurements=measurements,
        )


__all__ = [
    "CLAIMS",
    "ImitationExperiment",
    "behaviour_clone",
    "demonstrations",
    "slug",
    "teacher_table",
]
