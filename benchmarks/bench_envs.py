"""Workloads E, F and F2: environment steps per second, SB3 PPO throughput, ``train_agent``.

E: Portfolio-v0 with 30 assets and random actions (drawn before timing, for both sides),
single environment through the gymnasium API, against FinRL's ``StockPortfolioEnv`` re-implemented
faithfully in ``benchmarks/peers/finrl_portfolio_env.py`` (per-step pandas ``df.loc[day]``,
softmax weights, covariance-matrix state) on the same prices; HFT-v0 and ESGPortfolio-v0 steps/s;
the batched ``PortfolioVectorEnv`` with 1,024 environments (environment-steps/s).

F: stable-baselines3 PPO ``MlpPolicy`` learning throughput on Portfolio-v0 with 1 and 4
environments (``DummyVecEnv``), as a share of SB3's ceiling measured on a trivial environment with
the same observation and action spaces (constant observation, zero reward), so the network is
the same size and only the environment differs; plus PPO on 64 batched environments. torch runs
on one thread for both (on a busy 2-core machine more threads make torch ~10x slower). Every
model is built by ``quantrl.agents.make_agent`` with the sizes given here.

F2: ``quantrl.agents.train_agent("quantrl/Portfolio-v0", algo="ppo")`` end to end (env and model
construction included) with its defaults on the first 70% of the same prices (30 assets): 128
batched environments, rollouts of 8,192 steps, minibatches of 2,048, 3 epochs; environment steps
per second of the whole call (target 20,000), with torch on 1 thread (the default, safe on a busy
machine) and on 2 threads (both cores of a quiet 2-core machine).

Prices: ``make_prices(2520, 30, seed=5)``; open = previous close. Timings: one warm-up, then the
median of 5 (F: alternating pairs, median of 3, PPO n_steps 1024 and two rollouts per run;
``--quick``: one repeat and smaller budgets). Rates are given per wall second and per CPU
second of the process (``time.process_time``): on a shared machine the wall figures include
waiting for a core, the CPU figures do not. The machine may be shared, so
absolute numbers are noisy; the ratios are what to compare.

Run: ``python benchmarks/bench_envs.py [--quick] [--only E|F|F2]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import print_table  # noqa: E402
from benchmarks.inputs import make_prices  # noqa: E402
from quantrl.data.panel import Panel  # noqa: E402


def bench_panel(n_bars: int = 2520, n_assets: int = 30, seed: int = 5) -> tuple[Panel, Any]:
    """A Panel built from ``make_prices`` (open = previous close) and its close DataFrame."""
    close_df = make_prices(n_bars, n_assets, seed)
    close = close_df.to_numpy()
    open_ = np.vstack([close[:1], close[:-1]])
    panel = Panel(
        dates=close_df.index.to_numpy(),
        symbols=tuple(close_df.columns),
        fields={
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": np.full(close.shape, 1e6),
        },
        meta={"name": "bench"},
    )
    return panel, close_df


def rates(fn: Any, repeats: int) -> tuple[float, float]:
    """(steps per wall second, steps per CPU second) of ``fn() -> steps``: median of repeats.

    CPU time (``time.process_time``, all threads of the process) is what the work costs; wall
    time also counts the waiting for a busy machine, so the CPU figure is the steadier one there.
    """
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        n = fn()
        walls.append(n / (time.perf_counter() - w0))
        cpus.append(n / max(time.process_time() - c0, 1e-9))
    return statistics.median(walls), statistics.median(cpus)


def env_steps_per_s(env: Any, actions: np.ndarray, repeats: int) -> tuple[float, float]:
    """Steps per (wall, CPU) second of ``env.step`` over the pre-drawn ``actions``."""

    def run() -> int:
        env.reset(seed=0)
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        return len(actions)

    return rates(run, repeats)


def workload_e(quick: bool) -> list[dict[str, Any]]:
    """Single-env and batched steps/s, with the FinRL-style peer."""
    from benchmarks.peers.finrl_portfolio_env import StockPortfolioEnv, finrl_frame
    from quantrl.envs import ESGPortfolioEnv, HFTEnv, PortfolioEnv, PortfolioVectorEnv

    repeats = 1 if quick else 5
    n_ours = 5_000 if quick else 30_000
    n_peer = 300 if quick else 2_000
    panel, close_df = bench_panel()
    rng = np.random.default_rng(0)
    rows = []

    env = PortfolioEnv(panel, split="all", episode_length=None)
    ours = env_steps_per_s(env, rng.uniform(-1, 1, (n_ours, 31)), repeats)
    df, tech = finrl_frame(close_df, lookback=252)
    peer_env = StockPortfolioEnv(df, 30, 100, 1e6, 0.001, 1e-4, 30, 30, tech)
    peer = env_steps_per_s(peer_env, rng.uniform(0, 1, (n_peer, 30)), repeats)
    rows.append(_row("E Portfolio-v0, 30 assets", ours, "FinRL StockPortfolioEnv", peer, 70_000))

    import gymnasium as gym

    made = gym.make("quantrl/Portfolio-v0", market=panel, split="all")
    rows.append(
        _row(
            "E Portfolio-v0 via gym.make",
            env_steps_per_s(made, rng.uniform(-1, 1, (n_ours, 31)), repeats),
            "FinRL StockPortfolioEnv",
            peer,
        )
    )
    hft = HFTEnv("crypto_minute", split="all", episode_length=240)
    hft_rate = env_steps_per_s(hft, rng.integers(0, 11, n_ours), repeats)
    rows.append(_row("E HFT-v0, minute bars", hft_rate, "", None))
    esg = ESGPortfolioEnv("dow30", split="all", episode_length=None)
    esg_rate = env_steps_per_s(esg, rng.uniform(-1, 1, (n_ours, esg.n_assets + 1)), repeats)
    rows.append(_row("E ESGPortfolio-v0, dow30", esg_rate, "", None))

    for copy, parallel in ((True, False), (False, False), (True, True), (False, True)):
        venv = PortfolioVectorEnv(
            1024, panel, split="all", episode_length=252, copy=copy, parallel=parallel
        )
        acts = rng.uniform(-1, 1, (4, 1024, 31))
        n_batch = 20 if quick else 100

        def run_batched(venv: Any = venv, acts: np.ndarray = acts, n_batch: int = n_batch) -> int:
            venv.reset(seed=0)
            for k in range(n_batch):
                venv.step(acts[k % 4])
            return n_batch * 1024

        label = "E batched x1024" + (", threads" if parallel else ", 1 thread")
        label += "" if copy else ", copy=False"
        rows.append(_row(label, rates(run_batched, repeats), "", None, 1_000_000))
    return rows


def _row(
    work: str,
    ours: tuple[float, float],
    peer_name: str,
    peer: tuple[float, float] | None,
    target: float | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {"workload": work, "steps/s": round(ours[0])}
    row["steps/CPU-s"] = round(ours[1])
    row["peer"] = peer_name or "-"
    row["peer steps/s"] = round(peer[0]) if peer else "-"
    row["peer steps/CPU-s"] = round(peer[1]) if peer else "-"
    row["ratio (wall)"] = round(ours[0] / peer[0], 1) if peer else "-"
    row["ratio (CPU)"] = round(ours[1] / peer[1], 1) if peer else "-"
    row["target"] = f">= {target:,.0f}" if target else "-"
    if target:
        row["met (wall/CPU)"] = (
            f"{'yes' if ours[0] >= target else 'no'}/{'yes' if ours[1] >= target else 'no'}"
        )
    return row


class TrivialEnv:
    """Built lazily: a gymnasium env with given spaces, constant observation, zero reward."""

    @staticmethod
    def make(observation_space: Any, action_space: Any, length: int = 252) -> Any:
        """A trivial env with these spaces, truncated every ``length`` steps."""
        import gymnasium as gym

        class _Trivial(gym.Env):
            def __init__(self) -> None:
                self.observation_space = observation_space
                self.action_space = action_space
                self._obs = np.zeros(observation_space.shape, dtype=np.float32)
                self._t = 0

            def reset(self, *, seed: int | None = None, options: Any = None) -> Any:
                super().reset(seed=seed)
                self._t = 0
                return self._obs.copy(), {}

            def step(self, action: Any) -> Any:
                self._t += 1
                return self._obs.copy(), 0.0, False, self._t >= length, {}

        return _Trivial()


def _ppo_rate(make_venv: Any, n_steps: int, total: int) -> tuple[float, float]:
    """PPO learning steps per (wall, CPU) second on a fresh model (construction not timed).

    SB3's own PPO sizes (minibatches of 64, 10 epochs, one 64x64 network each for the policy and
    the value), so the comparison with the trivial env measures the environment's share.
    """
    from quantrl.agents import make_agent

    model = make_agent(
        "ppo",
        make_venv(),
        seed=0,
        n_steps=n_steps,
        batch_size=64,
        n_epochs=10,
        learning_rate=3e-4,
    )
    w0, c0 = time.perf_counter(), time.process_time()
    model.learn(total)
    return total / (time.perf_counter() - w0), total / (time.process_time() - c0)


def workload_f(quick: bool) -> list[dict[str, Any]]:
    """PPO learning steps/s on Portfolio-v0 vs the trivial env with the same spaces.

    Runs alternate between the two envs (one warm-up pair, then ``repeats`` pairs) so that a
    change in machine load hits both; the share is the ratio of the two medians.
    """
    import torch
    from stable_baselines3.common.vec_env import DummyVecEnv

    from quantrl.envs import PortfolioEnv, make_sb3_vec_env

    repeats = 1 if quick else 3
    panel, _ = bench_panel()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # more threads than free cores makes torch spin-wait
    template = PortfolioEnv(panel, split="all")
    rows = []
    for n_envs in (1, 4):
        n_steps = 256 if quick else 1024
        total = n_steps * n_envs * 2

        def portfolio() -> Any:
            return PortfolioEnv(panel, split="all")

        def trivial() -> Any:
            return TrivialEnv.make(template.observation_space, template.action_space)

        runs: dict[str, list[tuple[float, float]]] = {"trivial": [], "portfolio": []}
        for rep in range(repeats + 1):
            for kind, make in (("trivial", trivial), ("portfolio", portfolio)):
                rate = _ppo_rate(
                    lambda make=make, n_envs=n_envs: DummyVecEnv([make] * n_envs), n_steps, total
                )
                if rep > 0:
                    runs[kind].append(rate)
        ours = [statistics.median(r[i] for r in runs["portfolio"]) for i in (0, 1)]
        ceiling = [statistics.median(r[i] for r in runs["trivial"]) for i in (0, 1)]
        share = [ours[i] / ceiling[i] for i in (0, 1)]
        rows.append(
            {
                "workload": f"F PPO, {n_envs} env(s)",
                "Portfolio-v0 steps/s": round(ours[0]),
                "trivial env steps/s": round(ceiling[0]),
                "share (wall)": f"{100 * share[0]:.1f} %",
                "share (CPU)": f"{100 * share[1]:.1f} %",
                "target": ">= 80 %",
                "met (wall/CPU)": "/".join("yes" if x >= 0.8 else "no" for x in share),
            }
        )
    batched = [
        _ppo_rate(lambda: make_sb3_vec_env(64, panel, split="all", seed=0), 32, 64 * 32 * 2)
        for _ in range(repeats)
    ]
    rows.append(
        {
            "workload": "F PPO, 64 batched envs",
            "Portfolio-v0 steps/s": round(statistics.median(b[0] for b in batched)),
            "trivial env steps/s": "-",
            "share (wall)": "-",
            "share (CPU)": "-",
            "target": "-",
        }
    )
    return rows


def workload_f2(quick: bool) -> list[dict[str, Any]]:
    """``train_agent`` PPO throughput on Portfolio-v0 (batched defaults), wall and CPU."""
    from quantrl.agents import train_agent

    panel, _ = bench_panel()
    n = panel.n_dates
    split = (str(panel.dates[int(0.7 * n)])[:10], str(panel.dates[int(0.85 * n)])[:10])
    timesteps = 16_384 if quick else 131_072
    repeats = 1 if quick else 3
    rows = []
    for n_threads in (1, 2):
        last: list[Any] = []

        def run(n_threads: int = n_threads, last: list[Any] = last) -> int:
            outcome = train_agent(
                "quantrl/Portfolio-v0",
                algo="ppo",
                timesteps=timesteps,
                market=panel,
                split_dates=split,
                n_threads=n_threads,
            )
            last[:] = [outcome]
            return outcome.timesteps

        wall, cpu = rates(run, repeats)
        outcome = last[0]
        model = outcome.model
        rows.append(
            _row(
                f"F2 train_agent PPO, {outcome.timesteps:,} steps, {outcome.n_envs} batched envs, "
                f"rollout {model.n_steps * outcome.n_envs:,}, minibatch {model.batch_size:,}, "
                f"{model.n_epochs} epochs, {n_threads} torch thread(s)",
                (wall, cpu),
                "",
                None,
                target=20_000,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run workloads E, F and F2 and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets, one repeat")
    parser.add_argument("--only", choices=("E", "F", "F2"), help="run one workload")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.only in (None, "E"):
        print_table("Workload E: environment steps per second", workload_e(args.quick))
    if args.only in (None, "F"):
        print_table("Workload F: SB3 PPO learning throughput", workload_f(args.quick))
    if args.only in (None, "F2"):
        print_table("Workload F2: train_agent (batched PPO) throughput", workload_f2(args.quick))


if __name__ == "__main__":
    main()
