"""``train_agent``: build, train, evaluate and save an agent in one call, batched where possible.

The env is a quantrl id (``"quantrl/Portfolio-v0"``...; built on the train split of ``market``),
a gymnasium env, a factory of envs or an SB3 ``VecEnv``. For an id, ``make_train_env`` chooses
how episodes are stepped: PPO and A2C on ``Portfolio-v0`` / ``ESGPortfolio-v0`` run
``n_envs`` (128 for PPO, 64 for A2C by default) parallel episodes in the batched
``quantrl.envs.vector.PortfolioVectorEnv`` (one numba call per step for all of them) and take
``make_agent``'s batched defaults (large rollouts, large minibatches); the other environments
(``HFT-v0``, ``PairsTrading-v0``) and the off-policy algorithms step ``n_envs`` single envs
(1 by default) in a ``DummyVecEnv``; ``n_envs=1`` always gives the single-env path. The same
seed gives the same learning curve, evaluations and parameters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from quantrl.agents.callbacks import BacktestEvalCallback, EpisodeRecorder, RichProgressCallback
from quantrl.agents.factory import (
    BATCHED_ALGOS,
    BATCHED_N_ENVS,
    algo_name,
    canonical_env_id,
    env_class,
    make_agent,
)
from quantrl.agents.persist import market_panel, save
from quantrl.display import format_value, summary_html
from quantrl.envs.config import check_int
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.envs.registration import ENV_IDS
from quantrl.envs.vector import make_sb3_vec_env
from quantrl.errors import ConfigError

__all__ = [
    "DEFAULT_MARKETS",
    "TrainOutcome",
    "batched_env_supported",
    "make_train_env",
    "train_agent",
]

DEFAULT_MARKETS = {
    "quantrl/Portfolio-v0": "dow30",
    "quantrl/ESGPortfolio-v0": "dow30",
    "quantrl/HFT-v0": "crypto_minute",
}
"""Market used when ``train_agent`` gets none."""

RESERVED_ENV_KWARGS = ("split", "split_dates", "seed", "market", "sampling")
"""Env keywords ``train_agent`` chooses itself."""


@dataclass
class TrainOutcome:
    """What ``train_agent`` produced: the model, its run folder and its learning curves."""

    model: Any
    run_path: Path | None
    episode_rewards: list[float]
    eval_history: list[dict[str, float]]
    env_id: str
    env_kwargs: dict[str, Any]
    market: Any
    algo: str = ""
    n_envs: int = 1
    seconds: float = 0.0
    episode_lengths: list[int] = field(default_factory=list)

    @property
    def timesteps(self) -> int:
        """Environment steps the model was trained for."""
        return int(self.model.num_timesteps)

    def _rows(self) -> list[tuple[str, str]]:
        market = self.market if isinstance(self.market, str) else getattr(self.market, "name", "")
        rows = [
            ("algorithm", self.algo),
            ("env", self.env_id + (f" on {market}" if market else "")),
            (
                "steps",
                f"{format_value(self.timesteps)} ({self.n_envs} env{'s' * (self.n_envs > 1)})",
            ),
            ("time", f"{format_value(float(self.seconds), 1)} s"),
            ("episodes", format_value(len(self.episode_rewards))),
        ]
        if self.eval_history:
            last = self.eval_history[-1]
            rows.append(
                (
                    "last eval",
                    f"sharpe {format_value(last['sharpe'])} @ {format_value(last['timesteps'])}",
                )
            )
        rows.append(("run", str(self.run_path) if self.run_path is not None else "not saved"))
        return rows

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {v}" for k, v in self._rows())
        return f"TrainOutcome({inner})"

    def _repr_html_(self) -> str:
        return summary_html("TrainOutcome", self._rows())


def batched_env_supported(env_id: str) -> bool:
    """Whether ``env_id`` has a batched version (``PortfolioVectorEnv``: Portfolio and ESG)."""
    return issubclass(env_class(env_id), PortfolioEnv)


def default_n_envs(algo: str, env_id: str) -> int:
    """Parallel episodes ``train_agent`` uses when given none: batched on-policy, else 1."""
    key = algo_name(algo)
    if key in BATCHED_ALGOS and batched_env_supported(env_id):
        return BATCHED_N_ENVS[key]
    return 1


def _split_env_kwargs(
    env_kwargs: dict[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """(kwargs as saved, kwargs for the env class, symbols) of ``train_agent``'s ``env_kwargs``."""
    kwargs = dict(env_kwargs or {})
    for reserved in RESERVED_ENV_KWARGS:
        if reserved in kwargs:
            raise ConfigError(f"env_kwargs may not set {reserved!r}: train_agent chooses it")
    symbols = kwargs.pop("symbols", None)
    if symbols is not None:
        kwargs["symbols"] = list(symbols)
    base_kw = {k: v for k, v in kwargs.items() if k != "symbols"}
    return kwargs, base_kw, symbols


def make_train_env(
    env_id: str = "quantrl/Portfolio-v0",
    *,
    algo: str = "ppo",
    n_envs: int | None = None,
    market: Any = None,
    env_kwargs: dict[str, Any] | None = None,
    split_dates: tuple[Any, Any] | None = None,
    seed: int = 0,
) -> VecEnv:
    """The training ``VecEnv`` ``train_agent`` builds for an env id (train split of ``market``).

    Batched (``PortfolioVectorEnv``, random episode starts) for PPO and A2C on Portfolio-v0 and
    ESGPortfolio-v0 unless ``n_envs=1``; otherwise ``n_envs`` single envs (seeds ``seed + i``)
    in a ``DummyVecEnv``, each in a ``Monitor``.
    """
    full_id = canonical_env_id(env_id)
    cls = env_class(full_id)
    n = default_n_envs(algo, full_id) if n_envs is None else check_int("n_envs", n_envs)
    source = market if market is not None else DEFAULT_MARKETS.get(full_id)
    if source is None:
        raise ConfigError(f"{full_id} has no default market: pass market=")
    _, base_kw, symbols = _split_env_kwargs(env_kwargs)
    panel = market_panel(source, symbols)
    if n > 1 and algo_name(algo) in BATCHED_ALGOS and batched_env_supported(full_id):
        return make_sb3_vec_env(
            n, panel, env_cls=cls, split="train", split_dates=split_dates, seed=seed, **base_kw
        )

    def factory(i: int) -> Callable[[], gym.Env]:
        return lambda: Monitor(
            cls(panel, split="train", split_dates=split_dates, seed=seed + i, **base_kw)
        )

    return DummyVecEnv([factory(i) for i in range(n)])


def _as_vec_env(env: Any, n_envs: int | None) -> VecEnv:
    """A ``VecEnv`` of an env instance, a ``VecEnv`` or an env factory."""
    if isinstance(env, VecEnv):
        if n_envs is not None and n_envs != env.num_envs:
            raise ConfigError(f"n_envs={n_envs} but the given VecEnv has {env.num_envs}")
        return env
    if isinstance(env, gym.Env):
        if n_envs not in (None, 1):
            raise ConfigError("n_envs > 1 needs an env factory or an env id, not one env instance")
        return DummyVecEnv([lambda: env if isinstance(env, Monitor) else Monitor(env)])
    if callable(env):
        n = 1 if n_envs is None else check_int("n_envs", n_envs)
        return DummyVecEnv([lambda: Monitor(env()) for _ in range(n)])
    raise ConfigError(
        "env must be a quantrl env id, a gymnasium env, an env factory or an SB3 VecEnv, got "
        f"{type(env).__name__}"
    )


def _env_name(venv: VecEnv) -> str:
    """The quantrl id (else the gymnasium id or class name) of the first env of a ``VecEnv``."""
    layer: Any = venv
    template: Any = None
    while layer is not None and template is None:
        if hasattr(layer, "template"):  # PortfolioVectorEnv
            template = layer.template
        elif getattr(layer, "envs", None):  # DummyVecEnv / SubprocVecEnv-like
            template = layer.envs[0]
        else:  # SB3VecEnv, VecEnvWrapper
            layer = getattr(layer, "venv", None)
    base = getattr(template, "unwrapped", template)
    for env_id in ENV_IDS:
        if type(base) is env_class(env_id):
            return env_id
    spec = getattr(base, "spec", None)
    return spec.id if spec is not None else type(base).__name__


def train_agent(
    env: str | gym.Env | VecEnv | Callable[[], gym.Env] = "quantrl/Portfolio-v0",
    *,
    algo: str = "ppo",
    timesteps: int = 5000,
    market: Any = None,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    split_dates: tuple[Any, Any] | None = None,
    n_envs: int | None = None,
    out: Any = None,
    eval_freq: int | None = None,
    patience: int | None = None,
    metric: str = "sharpe",
    eval_env: Callable[[], gym.Env] | None = None,
    progress: bool = False,
    algo_kwargs: dict[str, Any] | None = None,
    policy_kwargs: dict[str, Any] | None = None,
    callbacks: Sequence[BaseCallback] = (),
    pretrain: Callable[[Any], Any] | None = None,
    n_threads: int | None = 1,
) -> TrainOutcome:
    """Train ``algo`` for ``timesteps`` env steps; optionally evaluate on valid, stop early, save.

    ``env``: a quantrl id (trained on the train split of ``market``, ``env_kwargs`` and
    ``split_dates`` going to the env; see ``make_train_env`` for ``n_envs``), or an env
    instance, an env factory (``n_envs`` copies) or a ``VecEnv``, used as given. Learning runs in
    whole rollouts, so on-policy training may take a few more steps than ``timesteps``.
    ``algo_kwargs`` and ``policy_kwargs`` override ``make_agent``'s defaults; ``callbacks`` run
    after the built-in ones; ``pretrain(model)`` runs between construction and training (e.g.
    behaviour cloning).

    With ``eval_freq`` the deterministic policy is backtested every ``eval_freq`` steps on a fresh
    env (for an id: the whole valid split; otherwise ``eval_env()``), and training stops after
    ``patience`` evaluations without improvement of ``metric``. With ``out`` (env ids only) the
    final model goes to ``out/`` and the best one on validation to ``out/best/``, as run folders
    (``quantrl.agents.persist``).
    """
    if int(timesteps) < 1:
        raise ConfigError(f"timesteps must be >= 1, got {timesteps}")
    key = algo_name(algo)
    save_kwargs: dict[str, Any] | None = None
    kwargs: dict[str, Any] = {}
    if isinstance(env, str):
        full_id = canonical_env_id(env)
        cls = env_class(full_id)
        market = market if market is not None else DEFAULT_MARKETS.get(full_id)
        if market is None:
            raise ConfigError(f"{full_id} has no default market: pass market=")
        kwargs, base_kw, symbols = _split_env_kwargs(env_kwargs)
        venv = make_train_env(
            full_id,
            algo=key,
            n_envs=n_envs,
            market=market,
            env_kwargs=env_kwargs,
            split_dates=split_dates,
            seed=seed,
        )
        save_kwargs = {
            "env_kwargs": kwargs,
            "market": market,
            "split_dates": split_dates,
            "env_id": full_id,
        }
        if eval_env is None:
            panel = market_panel(market, symbols)

            def eval_env() -> Any:
                kw = dict(base_kw)
                if full_id != "quantrl/HFT-v0":
                    kw["episode_length"] = None
                return cls(
                    panel, split="valid", split_dates=split_dates, sampling="sequential", **kw
                )

    else:
        given = {"market": market, "env_kwargs": env_kwargs, "split_dates": split_dates}
        unused = [name for name, value in given.items() if value is not None]
        if unused:
            raise ConfigError(f"{', '.join(unused)} apply to an env id only, not to a given env")
        if out is not None:
            raise ConfigError("out= (a run folder) needs an env id such as 'quantrl/Portfolio-v0'")
        if eval_freq and eval_env is None:
            raise ConfigError("eval_freq with a given env needs eval_env=, a factory of eval envs")
        venv = _as_vec_env(env, n_envs)
        full_id = _env_name(venv)

    extra_kwargs = dict(algo_kwargs or {})
    merged_policy = {**(extra_kwargs.pop("policy_kwargs", None) or {}), **(policy_kwargs or {})}
    if merged_policy:
        extra_kwargs["policy_kwargs"] = merged_policy
    model = make_agent(
        key, venv, seed=seed, n_threads=n_threads, timesteps=int(timesteps), **extra_kwargs
    )
    if pretrain is not None:
        pretrain(model)
    recorder = EpisodeRecorder()
    chain: list[BaseCallback] = [recorder]
    if progress:
        chain.append(RichProgressCallback(int(timesteps), f"{key} {full_id}"))
    evaluator = None
    if eval_freq:
        evaluator = BacktestEvalCallback(
            eval_env,
            int(eval_freq),
            metric=metric,
            patience=patience,
            save_path=Path(out) / "best" if out is not None else None,
            save_kwargs=save_kwargs,
        )
        chain.append(evaluator)
    chain.extend(callbacks)
    started = time.perf_counter()
    model.learn(int(timesteps), callback=CallbackList(chain))
    seconds = time.perf_counter() - started
    run_path = None
    if out is not None and save_kwargs is not None:
        extra = {
            "timesteps": int(model.num_timesteps),
            "seed": seed,
            "n_envs": int(venv.num_envs),
            "algo_kwargs": algo_kwargs,
        }
        if evaluator is not None:
            extra["eval_history"] = evaluator.history
        run_path = save(model, out, extra=extra, **save_kwargs)
    return TrainOutcome(
        model=model,
        run_path=run_path,
        episode_rewards=list(recorder.rewards),
        eval_history=evaluator.history if evaluator is not None else [],
        env_id=full_id,
        env_kwargs=kwargs,
        market=market,
        algo=key,
        n_envs=int(venv.num_envs),
        seconds=seconds,
        episode_lengths=list(recorder.lengths),
    )
