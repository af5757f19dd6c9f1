"""``make_agent``: stable-baselines3 / sb3-contrib algorithms with defaults suited to each env.

Defaults are small (two 64-unit layers) because the quantrl environments are cheap to step and
the machines are small CPUs; anything passed as ``**kwargs`` overrides them (``policy_kwargs`` is
merged). On a batched env (a ``VecEnv`` of at least ``BATCH_MIN_ENVS`` environments, e.g.
``quantrl.envs.make_sb3_vec_env``) PPO and A2C take the batched defaults instead: PPO collects
rollouts of ``n_envs * n_steps`` steps sized from the training budget (``rollout_steps``: about
16 updates when the budget allows, at most ``MAX_ROLLOUT`` steps) and learns from them in 4 large
minibatches for 3 epochs at a learning rate of 1e-3; A2C updates every 8 steps of every env.
Runs are seeded and deterministic on CPU: the seed goes to ``set_random_seed``, the model and the
env's action space, and torch uses ``n_threads`` threads (1 by default: faster for these small
networks, and bitwise reproducible).
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.utils import set_random_seed

from quantrl.envs.registration import ENV_IDS, SHORT_NAMES
from quantrl.errors import ConfigError

ALGOS: dict[str, tuple[str, str]] = {
    "ppo": ("stable_baselines3", "PPO"),
    "a2c": ("stable_baselines3", "A2C"),
    "sac": ("stable_baselines3", "SAC"),
    "td3": ("stable_baselines3", "TD3"),
    "ddpg": ("stable_baselines3", "DDPG"),
    "dqn": ("stable_baselines3", "DQN"),
    "maskable_ppo": ("sb3_contrib", "MaskablePPO"),
    "recurrent_ppo": ("sb3_contrib", "RecurrentPPO"),
}
"""Algorithm name (lower case) -> (module, class)."""

ALIASES = {
    "maskableppo": "maskable_ppo",
    "recurrentppo": "recurrent_ppo",
    "ppo_lstm": "recurrent_ppo",
}

ON_POLICY = ("ppo", "a2c", "maskable_ppo", "recurrent_ppo")
CONTINUOUS_ONLY = ("sac", "td3", "ddpg")

DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {
        "n_steps": 256,
        "batch_size": 64,
        "n_epochs": 5,
        "learning_rate": 3e-4,
        "ent_coef": 0.0,
    },
    "maskable_ppo": {"n_steps": 256, "batch_size": 64, "n_epochs": 5, "learning_rate": 3e-4},
    "recurrent_ppo": {"n_steps": 128, "batch_size": 64, "n_epochs": 5, "learning_rate": 3e-4},
    "a2c": {"n_steps": 16, "learning_rate": 7e-4},
    "sac": {"buffer_size": 50_000, "learning_starts": 100, "batch_size": 64, "learning_rate": 3e-4},
    "td3": {"buffer_size": 50_000, "learning_starts": 100, "batch_size": 64, "learning_rate": 1e-3},
    "ddpg": {
        "buffer_size": 50_000,
        "learning_starts": 100,
        "batch_size": 64,
        "learning_rate": 1e-3,
    },
    "dqn": {
        "buffer_size": 50_000,
        "learning_starts": 100,
        "batch_size": 64,
        "learning_rate": 1e-4,
        "target_update_interval": 500,
        "exploration_fraction": 0.2,
    },
}
"""Per-algorithm constructor defaults (overridden by ``make_agent``'s keyword arguments)."""

BATCHED_ALGOS = ("ppo", "a2c")
"""Algorithms trained on the batched vector env by default (``quantrl.agents.train_agent``)."""

BATCH_MIN_ENVS = 16
"""A vector env of at least this many environments gets the batched defaults."""

BATCHED_N_ENVS = {"ppo": 128, "a2c": 64}
"""Parallel episodes of the batched defaults."""

MAX_ROLLOUT = 8192
"""Largest PPO rollout (``n_envs * n_steps``) the batched defaults choose."""

MIN_N_STEPS = 8
"""Smallest ``n_steps`` per environment the batched defaults choose."""

BATCHED_DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {"n_epochs": 3, "learning_rate": 1e-3, "ent_coef": 0.0},
    "a2c": {"n_steps": MIN_N_STEPS, "learning_rate": 7e-4},
}
"""Constructor defaults of PPO and A2C on a batched env (PPO's sizes come from the budget)."""

NET_ARCH: dict[str, Any] = {
    "ppo": {"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
    "maskable_ppo": {"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
    "recurrent_ppo": {"net_arch": {"pi": [64], "vf": [64]}, "lstm_hidden_size": 64},
    "a2c": {"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
    "sac": {"net_arch": [64, 64]},
    "td3": {"net_arch": [64, 64]},
    "ddpg": {"net_arch": [64, 64]},
    "dqn": {"net_arch": [64, 64]},
}


def algo_name(name: str) -> str:
    """Canonical lower-case algorithm name, or a ConfigError listing the choices."""
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in ALGOS:
        raise ConfigError(f"unknown algorithm {name!r}; choose from {', '.join(ALGOS)}")
    return key


def algo_class(name: str) -> type:
    """The SB3 / sb3-contrib class of an algorithm name."""

    module, cls = ALGOS[algo_name(name)]
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(f"algorithm {name!r} needs the {module} package ({exc})") from exc


def has_action_masks(env: Any) -> bool:
    """Whether an env (or a vector env's first env) exposes ``action_masks``."""
    if hasattr(env, "env_method"):
        try:
            env.env_method("action_masks", indices=[0])
            return True
        except (AttributeError, NotImplementedError):
            return False
    if callable(getattr(env, "action_masks", None)):
        return True
    return callable(getattr(getattr(env, "unwrapped", env), "action_masks", None))


def check_compatible(name: str, env: Any) -> None:
    """Raise ConfigError when ``name`` cannot act in ``env``'s action space."""
    key = algo_name(name)
    space = env.action_space
    if key == "dqn" and not isinstance(space, spaces.Discrete):
        raise ConfigError(
            f"dqn needs a Discrete action space (e.g. quantrl/HFT-v0); this env has "
            f"{type(space).__name__}{getattr(space, 'shape', '')}: use ppo, a2c, sac, td3 or ddpg"
        )
    if key in CONTINUOUS_ONLY and not isinstance(space, spaces.Box):
        raise ConfigError(
            f"{key} needs a continuous Box action space; this env has {type(space).__name__} "
            "(use dqn, ppo or a2c)"
        )
    if key == "maskable_ppo" and not has_action_masks(env):
        raise ConfigError(
            "maskable_ppo needs an env with an action_masks() method (e.g. quantrl/AlphaMiner-v0)"
        )


def num_envs(env: Any) -> int:
    """Environments stepped together by ``env`` (1 for a gymnasium env)."""
    return int(getattr(env, "num_envs", 1))


def rollout_steps(n_envs: int, timesteps: int | None = None) -> int:
    """PPO ``n_steps`` per env on a batched env: about 16 rollouts of the budget, capped.

    The rollout (``n_envs * n_steps``) is ``timesteps // 16`` rounded down to whole steps per env,
    with ``n_steps`` between ``MIN_N_STEPS`` and ``MAX_ROLLOUT // n_envs``; without a budget it is
    the largest.
    """
    largest = max(MAX_ROLLOUT // max(n_envs, 1), MIN_N_STEPS)
    if timesteps is None:
        return largest
    return int(min(max(int(timesteps) // 16 // max(n_envs, 1), MIN_N_STEPS), largest))


def default_kwargs(name: str, env: Any, timesteps: int | None = None) -> dict[str, Any]:
    """Constructor defaults for ``name`` on ``env`` (policy, sizes, rates, action noise).

    ``timesteps`` (the training budget) sizes PPO's rollouts on a batched env.
    """
    key = algo_name(name)
    kw: dict[str, Any] = dict(DEFAULTS[key])
    n_envs = num_envs(env)
    if key in BATCHED_ALGOS and n_envs >= BATCH_MIN_ENVS:
        kw.update(BATCHED_DEFAULTS[key])
        if key == "ppo":
            kw["n_steps"] = rollout_steps(n_envs, timesteps)
            rollout = kw["n_steps"] * n_envs  # in 4 minibatches (fewer when 4 does not divide it)
            kw["batch_size"] = next(rollout // k for k in (4, 3, 2, 1) if rollout % k == 0)
    kw["policy_kwargs"] = dict(NET_ARCH[key])
    if key == "recurrent_ppo":
        kw["policy"] = "MlpLstmPolicy"
    else:
        kw["policy"] = "MlpPolicy"
    if key in ("td3", "ddpg"):
        dim = int(np.prod(env.action_space.shape))
        kw["action_noise"] = NormalActionNoise(np.zeros(dim), 0.1 * np.ones(dim))
    if key in ON_POLICY:
        kw["batch_size"] = min(kw.get("batch_size", 64), kw["n_steps"] * n_envs)
        if key == "a2c":
            kw.pop("batch_size")
    return kw


def make_agent(
    name: str,
    env: gym.Env | Any,
    *,
    seed: int = 0,
    n_threads: int | None = 1,
    verbose: int = 0,
    timesteps: int | None = None,
    **kwargs: Any,
) -> Any:
    """A seeded SB3 / sb3-contrib model (``ppo a2c sac td3 ddpg dqn maskable_ppo recurrent_ppo``).

    ``env`` is a gymnasium env or an SB3 ``VecEnv``; ``timesteps`` (the planned training budget)
    sizes PPO's rollouts on a batched env (``default_kwargs``); ``**kwargs`` override the defaults.
    """

    key = algo_name(name)
    check_compatible(key, env)
    if n_threads is not None:
        torch.set_num_threads(int(n_threads))
    set_random_seed(seed)
    if hasattr(env, "action_space"):
        env.action_space.seed(seed)
    params = default_kwargs(key, env, timesteps)
    extra_policy = kwargs.pop("policy_kwargs", None) or {}
    params["policy_kwargs"] = {**params["policy_kwargs"], **extra_policy}
    params.update(kwargs)
    policy = params.pop("policy")
    cls = algo_class(key)
    try:
        return cls(policy, env, seed=seed, device="cpu", verbose=verbose, **params)
    except TypeError as exc:
        raise ConfigError(f"bad argument for {cls.__name__}: {exc}") from exc


# ---------------------------------------------------------------------- training driver
def env_class(env_id: str) -> type:
    """The env class of a quantrl id or short name (``portfolio``, ``hft``, ``esg``)."""

    full = SHORT_NAMES.get(env_id, env_id)
    if full not in ENV_IDS:
        raise ConfigError(
            f"unknown environment {env_id!r}; choose from {', '.join([*SHORT_NAMES, *ENV_IDS])}"
        )
    module, cls = ENV_IDS[full][0].split(":")
    return getattr(importlib.import_module(module), cls)


def canonical_env_id(env_id: str) -> str:
    """The full registered id of an id or short name."""

    env_class(env_id)
    return SHORT_NAMES.get(env_id, env_id)


__all__ = [
    "ALGOS",
    "BATCHED_ALGOS",
    "BATCHED_N_ENVS",
    "algo_class",
    "algo_name",
    "canonical_env_id",
    "check_compatible",
    "default_kwargs",
    "env_class",
    "make_agent",
    "num_envs",
    "rollout_steps",
]
