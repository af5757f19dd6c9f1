"""MacroHFT-style study: regime sub-agents mixed by a hyper-agent with a kNN memory.

After Zong et al., "MacroHFT: Memory Augmented Context-aware Reinforcement Learning On High
Frequency Trading" (KDD 2024, arXiv:2406.14537): sub-agents trained on market data decomposed by
trend and volatility, and a hyper-agent with a memory that mixes their decisions, trade minute
bars of crypto pairs better than single RL agents and the market.

Market: ``HFT-v0`` on the bundled BTC perpetual minute bars (``crypto_minute``), episodes of 240
minutes; training on the first 70% of the bars, evaluation on the last 15% (the env's fraction
split; the middle 15% is unused). Sub-agents: one DQN per trend regime (``down`` / ``flat`` /
``up``; in the full run also one per volatility regime), trained only on episode windows of that
regime (``regime=`` sampling; the labels are hindsight labels of whole training windows and are
never observed). Hyper-agent: a memory built on the training windows maps a state embedding of
the episode's first observation (sum and std of the last 30 log returns, mean signed volume,
volatility, log volume ratio; standardised) to each sub-agent's realised log return in that
window; at test time the ``k`` nearest memories give each sub-agent a score, the softmax of the
mean scores (temperature ``tau``) weights the sub-agents' target positions, and the weighted
position is rounded to the nearest level. Ablations: one DQN trained on all regimes with the
total budget of the sub-agents; the sub-agents mixed with equal weights (no memory); the single
best sub-agent, chosen by its mean return on the memory's training windows (never on the test
split). Baselines: flat (no position) and buy-and-hold (fully long). All policies pay the same commission and square-root impact.
Every DQN is built and trained through ``quantrl.agents.train_agent``; every episode runs through
``quantrl.agents.rollout``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from quantrl.agents.evaluate import rollout, trajectory_result
from quantrl.agents.training import train_agent
from quantrl.envs.hft import HFTEnv
from quantrl.experiments.claims import Claim
from quantrl.experiments.registry import ExperimentResult

EPISODE = 240
TEST_STRIDE = 60
"""Minutes between the starts of consecutive test episodes in a full run (they overlap)."""
TEST_WINDOWS = 4
"""Consecutive parts of the test split reported separately."""
FULL_STEPS = 5_000
FAST_STEPS = 1500

PAPER = (
    "minute bars of four crypto pairs; RL sub-agents with a conditional adapter, trained on "
    "data decomposed by market trend and volatility; a hyper-agent trained by RL mixes their "
    "decisions softly, with an episodic memory; commission paid on every trade; baselines "
    "include DQN, DDQN, PPO, hierarchical RL and rule-based strategies"
)
OURS = (
    "one market: BTC perpetual 1-minute bars (2022-01), train the first 70% (about 22 days), "
    "test the last 15% (about 4.7 days; episodes of 240 minutes starting every 60 minutes, "
    "also reported in 4 consecutive windows); DQN sub-agents per trend "
    "(down/flat/up) and volatility (low/high) regime; hyper-agent = a kNN memory of the "
    "training windows whose softmax weights mix the sub-agents' target positions for a whole "
    "episode; 11 position levels from -1 to +1; 2 bp commission and square-root impact; per "
    "seed the mean test-episode log return"
)
DIFFERS = (
    "one market and a test window of days instead of months; a small DQN budget; plain DQN "
    "sub-agents without the conditional adapter; the hyper-agent is a memory lookup at the "
    "episode start, not a trained RL policy; regime labels are hindsight labels of whole "
    "training windows"
)
FIXED = (
    "; flat and buy-and-hold are the same on every seed, so the CI covers the agents' training "
    "seeds, not the market's randomness over other test windows"
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "beats_buy_and_hold",
        "The hyper-agent's test return beats buy-and-hold after costs",
        metric="hyper_return",
        baseline="long_return",
        paper=PAPER + "; MacroHFT reports the best total return among the compared methods",
        ours=OURS + "; buy-and-hold = fully long over each episode",
        differs=DIFFERS + FIXED,
    ),
    Claim(
        "beats_flat",
        "The hyper-agent's test return beats not trading (it is profitable after costs)",
        metric="hyper_return",
        baseline="flat_return",
        paper=PAPER + "; MacroHFT's reported test returns are net of commission",
        ours=OURS + "; flat = no position, a return of 0",
        differs=DIFFERS + FIXED,
    ),
    Claim(
        "beats_best_sub_agent",
        "The hyper-agent beats the single best sub-agent",
        metric="hyper_return",
        baseline="best_sub_return",
        paper=PAPER + "; mixing sub-agents beats relying on one, whose decisions are one-sided",
        ours=OURS + "; best sub-agent = highest mean return on the memory's training windows",
        differs=DIFFERS,
    ),
    Claim(
        "beats_single_agent",
        "The hyper-agent beats one DQN trained on all regimes with the same total budget",
        metric="hyper_return",
        baseline="single_return",
        paper=PAPER + "; MacroHFT beats the single-agent DQN baseline",
        ours=OURS + "; single agent: one DQN with the sub-agents' total number of steps",
        differs=DIFFERS,
    ),
    Claim(
        "memory_helps",
        "The memory improves the hyper-agent: memory weights beat mixing sub-agents equally",
        metric="hyper_return",
        baseline="uniform_return",
        paper=PAPER + "; removing the memory lowers the hyper-agent's return (ablation)",
        ours=OURS + "; ablation: the same sub-agents mixed with equal weights",
        differs=DIFFERS + "; the paper's ablation retrains the hyper-agent without memory",
    ),
    Claim(
        "conditional_adapter",
        "Sub-agents with a conditional adapter (market-context conditioning) trade better",
        paper=PAPER + "; removing the conditional adapter lowers the return (ablation)",
        ours="plain DQN sub-agents (MLP 64 x 64) without a conditional adapter",
        differs="no conditional adapter is implemented, so there is no ablation to run",
        testable=False,
        reason="the sub-agents have no conditional adapter to remove",
    ),
)
"""The paper's claims and how this study tests them."""


def embed(obs: np.ndarray, window: int) -> np.ndarray:
    """State embedding of an HFT-v0 observation (5 numbers, see the module docstring)."""
    lr = obs[:window]
    sv = obs[window : 2 * window]
    return np.array([lr.sum(), lr.std(), sv.mean(), obs[2 * window], obs[2 * window + 1]])


def as_env_policy(policy: Any) -> Any:
    """``policy(obs) -> level`` as the ``policy(obs, env)`` of ``quantrl.agents.rollout``."""
    return lambda obs, _env: int(policy(obs))


def run_episode(env: HFTEnv, start: int, policy: Any) -> float:
    """Log return of ``policy(obs) -> level`` over the episode starting at row ``start``."""
    equity = rollout(as_env_policy(policy), env, start=int(start))["equity"]
    return float(np.log(equity[-1] / env.costs.init_cash))


MINUTES_PER_YEAR = 365 * 24 * 60  # crypto trades around the clock


def episode_tear_sheets(env: HFTEnv, start: int, policies: dict[str, Any]) -> dict[str, Any]:
    """BacktestResults of one test episode per policy (env trajectories), for the tear sheet."""

    out = {}
    for name, policy in policies.items():
        traj = rollout(as_env_policy(policy), env, start=start)
        result = trajectory_result(env, traj, env_id="quantrl/HFT-v0")
        out[f"{name} (first test episode)"] = dataclasses.replace(
            result, periods_per_year=MINUTES_PER_YEAR, freq="1min"
        )
    return out


FLAT = "flat (no trade)"
LONG = "long"
HYPER = "hyper-agent (kNN memory)"


def flat_notes(means: pd.Series, by_window: pd.DataFrame) -> list[str]:
    """Plain sentences: which policies beat flat (no trading) after costs, overall and per window."""
    agents = [n for n in means.index if n not in (FLAT, LONG)]
    winners = [n for n in agents if means[n] > means[FLAT]]
    best = max(agents, key=lambda n: means[n])
    if winners:
        first = "policies that beat flat (no trading) after costs on the test split: " + ", ".join(
            f"{n} ({means[n]:+.4f} per episode)" for n in winners
        )
    else:
        first = (
            f"no agent policy beats flat (no trading) after costs: all {len(agents)} lose money "
            f"on the test split on average (best: {best}, {means[best]:+.4f} log return per "
            f"episode; buy-and-hold {means[LONG]:+.4f})"
        )
    k = len(by_window)
    beats_flat = int((by_window[HYPER] > by_window[FLAT]).sum())
    beats_long = int((by_window[HYPER] > by_window[LONG]).sum())
    any_flat = int((by_window[agents].max(axis=1) > by_window[FLAT]).sum())
    second = (
        f"per test window ({k} consecutive parts of the test split): the hyper-agent beats flat "
        f"in {beats_flat} of {k} and buy-and-hold in {beats_long} of {k}; some agent policy "
        f"beats flat in {any_flat} of {k}"
    )
    return [first, second]


class KNNMemory:
    """(embedding -> per-sub-agent return) memory with kNN lookup and softmax weights."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, k: int = 5, tau: float = 0.002):
        self.mu = keys.mean(axis=0)
        self.sd = np.where(keys.std(axis=0) > 0, keys.std(axis=0), 1.0)
        self.keys = (keys - self.mu) / self.sd
        self.values = values
        self.k = min(k, keys.shape[0])
        self.tau = tau

    def weights(self, key: np.ndarray) -> np.ndarray:
        """Softmax over sub-agents of their mean return among the ``k`` nearest memories."""
        d = np.linalg.norm(self.keys - (key - self.mu) / self.sd, axis=1)
        near = np.argsort(d, kind="stable")[: self.k]
        score = self.values[near].mean(axis=0) / self.tau
        e = np.exp(score - score.max())
        return e / e.sum()


class GreedyQ:
    """A DQN's greedy action ``argmax_a Q(obs, a)``, its MLP evaluated in numpy (float32).

    Gives the action of ``model.predict(obs, deterministic=True)`` at a fraction of the cost, for
    the thousands of evaluation episodes the memory and the test need.
    """

    def __init__(self, model: Any) -> None:
        layers = list(model.q_net.q_net)
        if not all(isinstance(m, torch.nn.Linear | torch.nn.ReLU) for m in layers):
            raise TypeError("GreedyQ handles Q-networks of Linear and ReLU layers only")
        linear = [m for m in layers if isinstance(m, torch.nn.Linear)]
        self.weights = [m.weight.detach().cpu().numpy().T.copy() for m in linear]
        self.biases = [m.bias.detach().cpu().numpy().copy() for m in linear]

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values of every action at ``obs``."""
        h = np.asarray(obs, dtype=np.float32).reshape(-1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if i < last:
                h = np.maximum(h, 0.0)
        return h

    def __call__(self, obs: np.ndarray) -> int:
        """The greedy action (level index) at ``obs``."""
        return int(np.argmax(self.q_values(obs)))


def episode_starts(env: HFTEnv, stride: int) -> np.ndarray:
    """Rows where a whole episode of ``env`` fits, every ``stride`` bars from the first."""
    return np.arange(env.first_row, env.last_row - env.episode_length + 1, stride)


def window_table(
    results: dict[str, list[float]], starts: np.ndarray, dates: np.ndarray, parts: int
) -> pd.DataFrame:
    """Mean episode log return per policy in each of ``parts`` consecutive groups of episodes."""
    groups = np.array_split(np.arange(starts.size), parts)
    rows = {}
    for g in groups:
        if g.size == 0:
            continue
        label = f"{str(dates[starts[g[0]]])[:16]} .. {str(dates[starts[g[-1]]])[:16]}"
        rows[label] = {k: float(np.mean(np.asarray(v)[g])) for k, v in results.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "test episodes starting"
    return table


def names_by_training_return(names: list[str], values: np.ndarray) -> list[str]:
    """Sub-agent names, best first, by mean log return over the memory's training windows."""
    order = np.argsort(-values.mean(axis=0), kind="stable")
    return [names[i] for i in order]


def train_dqn(env: HFTEnv, steps: int, seed: int) -> Any:
    """DQN (MlpPolicy 64x64, CPU) on ``env`` through ``quantrl.agents.train_agent``."""
    return train_agent(
        env,
        algo="dqn",
        timesteps=steps,
        seed=seed,
        algo_kwargs={
            "learning_starts": min(500, steps // 2),
            "buffer_size": 50_000,
            "exploration_fraction": 0.3,
            "target_update_interval": 500,
            "batch_size": 64,
            "learning_rate": 1e-4,
        },
        policy_kwargs={"net_arch": [64, 64]},
    ).model


class MacroHFTExperiment:
    """Regime sub-agents + kNN-memory hyper-agent vs one agent on all regimes (HFT-v0)."""

    name = "macro_hft"
    title = "MacroHFT-style regime sub-agents with a memory hyper-agent (BTC minute bars)"
    claims = CLAIMS

    def run(self, out_dir: Path, *, fast: bool, seed: int) -> ExperimentResult:
        """Train sub-agents per regime and the single agent; evaluate on test episodes."""

        regimes: tuple[str, ...] = ("down", "flat", "up")
        if not fast:
            regimes += ("low", "high")
        steps = FAST_STEPS if fast else FULL_STEPS
        kw = {"episode_length": EPISODE}
        subs = {}
        for reg in regimes:
            env = HFTEnv("crypto_minute", split="train", regime=reg, seed=seed, **kw)
            subs[reg] = train_dqn(env, steps, seed)
        train_env = HFTEnv("crypto_minute", split="train", seed=seed, **kw)
        single = train_dqn(train_env, steps * len(regimes), seed)
        window = train_env.window
        names = list(subs)
        sub_policies = {n: GreedyQ(m) for n, m in subs.items()}

        # memory on the training windows
        mem_starts = train_env.chunk_starts
        if fast:
            mem_starts = mem_starts[:: max(mem_starts.size // 30, 1)]
        keys, values = [], []
        for s in mem_starts:
            obs, _ = train_env.reset(options={"start": int(s)})
            keys.append(embed(obs, window))
            values.append([run_episode(train_env, s, sub_policies[n]) for n in names])
        memory = KNNMemory(np.asarray(keys), np.asarray(values))
        best_sub = names_by_training_return(names, np.asarray(values))[0]
        levels = train_env.levels

        test = HFTEnv("crypto_minute", split="test", **kw)
        test_starts = test.chunk_starts[:8] if fast else episode_starts(test, TEST_STRIDE)

        def hyper_policy_for(w: np.ndarray) -> Any:
            def policy(o: np.ndarray) -> int:
                lv = np.array([levels[sub_policies[n](o)] for n in names])
                return int(np.argmin(np.abs(levels - float(w @ lv))))

            return policy

        uniform = hyper_policy_for(np.full(len(names), 1.0 / len(names)))
        policies: dict[str, Any] = {
            HYPER: None,
            "sub-agents mixed equally": uniform,
            "single agent (all regimes)": GreedyQ(single),
            **{f"sub-agent {n}": sub_policies[n] for n in names},
            FLAT: lambda o: len(levels) // 2,
            LONG: lambda o: len(levels) - 1,
        }
        results: dict[str, list[float]] = {k: [] for k in policies}
        chosen = []
        for s in test_starts:
            obs, _ = test.reset(options={"start": int(s)})
            w = memory.weights(embed(obs, window))
            chosen.append(w)
            for name, pol in policies.items():
                results[name].append(
                    run_episode(test, s, hyper_policy_for(w) if pol is None else pol)
                )
        backtests = episode_tear_sheets(
            test,
            int(test_starts[0]),
            {
                "hyper-agent": hyper_policy_for(chosen[0]),
                "single agent": GreedyQ(single),
                "long": policies[LONG],
            },
        )
        rows = []
        for name, rets in results.items():
            r = np.asarray(rets)
            rows.append(
                {
                    "policy": name,
                    "mean_episode_log_return": float(r.mean()),
                    "episode_sharpe": float(r.mean() / r.std()) if r.std() > 0 else 0.0,
                    "total_log_return": float(r.sum()),
                    "win_rate": float(np.mean(r > 0)),
                }
            )
        table = pd.DataFrame(rows).set_index("policy")
        means = table["mean_episode_log_return"]
        measurements = {
            "hyper_return": float(means[HYPER]),
            "uniform_return": float(means["sub-agents mixed equally"]),
            "single_return": float(means["single agent (all regimes)"]),
            "best_sub_return": float(means[f"sub-agent {best_sub}"]),
            "flat_return": float(means[FLAT]),
            "long_return": float(means[LONG]),
        }
        by_window = window_table(results, test_starts, test.panel.dates, TEST_WINDOWS)
        mix = pd.DataFrame(np.asarray(chosen), columns=names)
        mix.index = [str(test.panel.dates[s])[:16] for s in test_starts]
        mix.index.name = "test episode start"
        seg, tseg = train_env.panel, test.panel
        windows = {
            "train": (seg.dates[train_env.first_row], seg.dates[-1]),
            "test": (tseg.dates[test.first_row], tseg.dates[-1]),
        }
        notes = [
            f"sub-agents {', '.join(regimes)}: {steps} DQN steps each; single agent "
            f"{steps * len(regimes)} steps; seed {seed}",
            f"memory: {len(keys)} training windows, k = {memory.k}, tau = {memory.tau}; "
            f"{len(test_starts)} test episodes of {EPISODE} minutes"
            + ("" if fast else f", starting every {TEST_STRIDE} minutes (they overlap)"),
            "commission 2 bp and square-root impact (HFT-v0 defaults) for every policy",
            f"best sub-agent on the memory's training windows: {best_sub}",
            *flat_notes(means, by_window),
        ]
        return ExperimentResult(
            table=table,
            backtests=backtests,
            notes=notes,
            extra_tables={
                "Mean episode log return per test window": by_window,
                "Hyper-agent weights per test episode": mix,
            },
            windows=windows,
            measurements=measurements,
        )


__all__ = [
    "CLAIMS",
    "GreedyQ",
    "KNNMemory",
    "MacroHFTExperiment",
    "as_env_policy",
    "embed",
    "episode_tear_sheets",
    "flat_notes",
    "names_by_training_return",
    "run_episode",
    "episode_starts",
    "train_dqn",
    "window_table",
]
