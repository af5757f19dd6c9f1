"""``evaluate_agent``: roll a policy deterministically over a whole split and backtest its choices.

The policy acts once per row from the split's first decision row to its end (one sequential
episode). For ``Portfolio-v0`` the risky target weights it chose at each decision row are replayed
with ``quantrl.backtest.run_weights`` under the env's costs and timing, and the env's equity is
checked against the backtest's (they share the accounting kernel): the result is the backtest.
In ``ESGPortfolio-v0`` the grant/tax moves wealth, so when any was paid the result is built from
the env's own trajectory (equity, cash, positions, fills), and ``spec["unregulated"]`` keeps the
plain backtest; ``HFT-v0`` (market impact) is always built from the env's trajectory.

``rollout`` is the package's one episode loop: evaluation, the validation callback,
``AgentStrategy``, the experiments and the demo all run their policies through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from quantrl.agents.persist import Run, load, make_run_env, read_meta
from quantrl.backtest import run_weights
from quantrl.backtest.result import BacktestResult
from quantrl.envs.hft import HFTEnv
from quantrl.errors import ConfigError, QuantRLError
from quantrl.kernels.envs import POS, TGT

PARITY_RTOL = 1e-9


class PolicyRunner:
    """Deterministic actions from an SB3 model, carrying recurrent state between calls."""

    def __init__(self, model: Any, deterministic: bool = True) -> None:
        self.model = model
        self.deterministic = deterministic
        self.state: Any = None
        self.start = np.ones((1,), dtype=bool)

    def reset(self) -> None:
        """Forget the recurrent state (a new episode)."""
        self.state = None
        self.start = np.ones((1,), dtype=bool)

    def __call__(self, obs: np.ndarray, env: Any = None) -> Any:
        """The action for one observation."""
        kw: dict[str, Any] = {}
        masks = getattr(env, "action_masks", None)
        if masks is None:
            masks = getattr(getattr(env, "unwrapped", env), "action_masks", None)
        if callable(masks):
            kw["action_masks"] = masks()
        action, self.state = self.model.predict(
            obs,
            state=self.state,
            episode_start=self.start,
            deterministic=self.deterministic,
            **kw,
        )
        self.start = np.zeros((1,), dtype=bool)
        return action


def as_policy(policy: Any, deterministic: bool = True) -> Any:
    """``policy`` as a ``policy(obs, env) -> action`` callable: a model gets a ``PolicyRunner``."""
    if callable(getattr(policy, "predict", None)):
        return PolicyRunner(policy, deterministic)
    if not callable(policy):
        raise ConfigError(
            f"a policy is a model with predict() or a callable policy(obs, env), got "
            f"{type(policy).__name__}"
        )
    return policy


def observation_wrappers(env: Any) -> list[gym.ObservationWrapper]:
    """The ``gymnasium.ObservationWrapper`` layers around an env, innermost first."""
    found: list[gym.ObservationWrapper] = []
    layer = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, gym.ObservationWrapper):
            found.append(layer)
        layer = layer.env
    return found[::-1]


def rollout(policy: Any, env: Any, start: int | None = None) -> dict[str, Any]:
    """One episode of ``policy`` in ``env`` from row ``start`` (default: the first allowed row).

    ``policy`` is an SB3 model (acting deterministically through ``PolicyRunner``) or a callable
    ``policy(obs, env) -> action``. The episode runs on ``env.unwrapped``: wrappers such as a time
    limit are bypassed, so the whole split is covered, while the ``ObservationWrapper`` layers of
    ``env`` still transform what the policy observes; an ``action_masks`` method of ``env`` is
    used. Returns arrays aligned on the rows from ``start`` to the last one stepped: ``equity``
    and ``cash`` at each close (``init_cash`` at ``start``), ``positions``, ``targets`` (the
    risky weights decided at each row, NaN on the last) and the fills as a trades array with
    bars counted from ``start``; per step, ``actions``, ``rewards`` and ``infos``.
    """
    runner = as_policy(policy)
    wrappers = observation_wrappers(env)
    base = env.unwrapped
    first = base.first_row if start is None else int(start)
    if hasattr(runner, "reset"):
        runner.reset()
    obs, info = base.reset(options={"start": first})
    state = base._state
    n = state.book.shape[2]
    init = float(info["equity"])
    equity, cash = [init], [float(state.account[0, 0])]
    positions = [state.book[0, POS].copy()]
    targets: list[np.ndarray] = []
    fills: list[np.ndarray] = []
    actions: list[Any] = []
    rewards: list[float] = []
    infos: list[dict[str, Any]] = []
    done = False
    while not done:
        for layer in wrappers:
            obs = layer.observation(obs)
        action = runner(obs, env)
        state.trades[0] = np.zeros(n, dtype=state.trades.dtype)
        obs, reward, terminated, truncated, info = base.step(action)
        done = terminated or truncated
        actions.append(np.array(action, copy=True))
        rewards.append(float(reward))
        targets.append(state.book[0, TGT].copy())
        equity.append(float(info["equity"]))
        cash.append(float(state.account[0, 0]))
        positions.append(state.book[0, POS].copy())
        trades = state.trades[0]
        made = trades[trades["size"] > 0].copy()
        made["bar"] -= first
        fills.append(made)
        infos.append(info)
    targets.append(np.full(n, np.nan))
    return {
        "start": np.array(first),
        "equity": np.array(equity),
        "cash": np.array(cash),
        "positions": np.array(positions),
        "targets": np.array(targets),
        "trades": np.concatenate(fills) if fills else np.zeros(0, dtype=state.trades.dtype),
        "actions": np.array(actions),
        "rewards": np.array(rewards),
        "infos": infos,
    }


def trajectory_weights(traj: dict[str, Any], n_rows: int) -> np.ndarray:
    """(n_rows, N) risky targets of a trajectory on its env panel's rows; NaN where none decided.

    Row ``start + k`` holds the target decided at the k-th step; rows before the first decision
    and from the last row on are NaN (no order), so ``run_weights`` on the env's panel replays
    the episode's accounting.
    """
    first = int(traj["start"])
    targets = traj["targets"]
    if first + targets.shape[0] > n_rows:
        raise ConfigError(
            f"the trajectory covers rows {first}..{first + targets.shape[0] - 1}, the panel has "
            f"{n_rows}"
        )
    out = np.full((n_rows, targets.shape[1]), np.nan)
    out[first : first + targets.shape[0]] = targets
    return out


def trajectory_result(env: Any, traj: dict[str, Any], **spec: Any) -> BacktestResult:
    """A BacktestResult built from an env trajectory (equity, cash, positions and fills)."""
    base = env.unwrapped
    first = int(traj["start"])
    stop = first + traj["equity"].shape[0]
    panel = base.panel
    symbols = tuple(getattr(base, "symbols", None) or (base.symbol,))
    cols = [panel.symbols.index(s) for s in symbols]
    close = np.ascontiguousarray(panel["close"][first:stop][:, cols])
    return BacktestResult(
        dates=panel.dates[first:stop],
        symbols=symbols,
        equity=traj["equity"],
        cash=traj["cash"],
        positions=traj["positions"],
        close=close,
        exec_prices=np.ascontiguousarray(base.exec_prices[first:stop].reshape(close.shape)),
        trades=traj["trades"],
        init_cash=float(base.costs.init_cash),
        spec={"source": "env trajectory", **spec},
    )


def _resolve(
    model: Any, env_or_run: Any, split: str, market: Any, check_hash: bool
) -> tuple[Any, Any]:

    if isinstance(env_or_run, Run):
        env = make_run_env(env_or_run.meta, split=split, market=market, check_hash=check_hash)
        return (model if model is not None else env_or_run.model), env
    if isinstance(env_or_run, str | Path):
        meta = read_meta(env_or_run)
        env = make_run_env(meta, split=split, market=market, check_hash=check_hash)
        if model is None:
            model = load(env_or_run, env=env).model
        return model, env
    if model is None:
        raise ConfigError("evaluate_agent needs a model when given an env")
    return model, env_or_run


def evaluate_agent(
    model: Any,
    env_or_run: Any,
    split: str = "test",
    *,
    market: Any = None,
    check_hash: bool = True,
    deterministic: bool = True,
    benchmark: Any = None,
) -> BacktestResult:
    """Backtest a policy over a whole split: ``env_or_run`` is an env, a run folder or a ``Run``.

    With a run folder (``model`` may be None: the saved one is loaded) the env is rebuilt from
    ``meta.json`` on ``split`` (``market=`` a Panel when the market is not bundled), after
    checking the universe and data hash. An env given directly is used as it is, from its first
    allowed row for its ``episode_length``.
    """
    model, env = _resolve(model, env_or_run, split, market, check_hash)
    base = env.unwrapped
    if getattr(model, "observation_space", None) is not None:
        if model.observation_space.shape != env.observation_space.shape:
            raise ConfigError(
                f"the model expects observations of shape {model.observation_space.shape}, "
                f"the env gives {env.observation_space.shape}"
            )
    traj = rollout(as_policy(model, deterministic), env)

    if isinstance(base, HFTEnv):
        return trajectory_result(env, traj, env_id="quantrl/HFT-v0")
    return backtest_trajectory(env, traj, benchmark=benchmark)


def backtest_trajectory(env: Any, traj: dict[str, Any], benchmark: Any = None) -> BacktestResult:
    """Replay a Portfolio/ESG trajectory's targets through ``run_weights`` and check parity."""
    base = env.unwrapped
    first = int(traj["start"])
    stop = first + traj["equity"].shape[0]
    seg = base.panel.slice(base.panel.dates[first], base.panel.dates[stop - 1])
    c = base.costs
    res = run_weights(
        seg,
        traj["targets"],
        fees=c.fees,
        fixed_fees=c.fixed_fees,
        slippage=c.slippage,
        init_cash=c.init_cash,
        execution=c.execution,
        rebalance_threshold=c.rebalance_threshold,
        max_leverage=c.max_leverage,
        benchmark=benchmark,
    )
    esg = [i.get("esg_adjustment", 0.0) for i in traj["infos"]]
    if any(a != 0.0 for a in esg):
        return trajectory_result(env, traj, env_id="quantrl/ESGPortfolio-v0", unregulated=res)
    if res.equity.shape != traj["equity"].shape or not np.allclose(
        res.equity, traj["equity"], rtol=PARITY_RTOL, atol=0.0
    ):
        gap = np.max(np.abs(res.equity / traj["equity"] - 1.0))
        raise QuantRLError(
            f"env equity and backtest equity disagree (max relative gap {gap:.3g}): the env and "
            "the backtester no longer share their accounting"
        )
    return res


__all__ = [
    "PolicyRunner",
    "as_policy",
    "backtest_trajectory",
    "evaluate_agent",
    "observation_wrappers",
    "rollout",
    "trajectory_result",
    "trajectory_weights",
]
