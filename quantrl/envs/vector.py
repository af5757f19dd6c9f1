"""Batched Portfolio environments stepped together in numba, for gymnasium and stable-baselines3.

``PortfolioVectorEnv`` runs ``num_envs`` independent Portfolio-v0 (or ESGPortfolio-v0) episodes on
one shared copy of the market arrays; one ``step`` is one numba call
(``quantrl.kernels.envs.step_batch_nb``, threaded, or ``step_batch_serial_nb``) over the
per-environment state rows. Every environment
behaves exactly like the single environment it is built from (same kernel, same numbers); its
episodes start at random rows of the split (``seed`` drives a ``numpy.random.Generator``).

Autoreset is gymnasium's ``SAME_STEP`` mode: when an episode ends, the observation returned for
that environment is already the first one of its next episode, and ``info["final_obs"][i]`` (with
the mask ``info["_final_obs"]``) holds the last observation of the finished episode;
``info["final_info"]["equity"]`` its final equity. ``SB3VecEnv`` adapts it to
stable-baselines3's ``VecEnv`` (``terminal_observation``, ``TimeLimit.truncated`` and an
``episode`` record per finished episode), so PPO can use 64+ environments at the cost of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from stable_baselines3.common.vec_env import VecEnv

from quantrl.data.panel import Panel
from quantrl.envs.base import check_seed, reset_start
from quantrl.envs.config import check_int
from quantrl.envs.core import EnvState, fast_entry
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.errors import ConfigError
from quantrl.kernels.env_state import DONE, OK
from quantrl.kernels.envs import reset_batch_nb, step_batch_nb, step_batch_serial_nb


class PortfolioVectorEnv(VectorEnv):
    """``num_envs`` Portfolio environments stepped in one numba call (same-step autoreset).

    ``parallel=True`` spreads the environments over numba's threads (``prange``): worth it on a
    machine with idle cores; next to a training process on few cores the thread pool's spinning
    slows that process down, so the default steps them on one thread. ``copy=False`` returns
    the internal observation buffer (overwritten by the next step) instead of a copy.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 64,
        market: str | Panel = "dow30",
        *,
        env_cls: type[PortfolioEnv] = PortfolioEnv,
        seed: int | None = None,
        copy: bool = True,
        parallel: bool = False,
        **env_kwargs: Any,
    ) -> None:
        self.num_envs = check_int("num_envs", num_envs)
        env_kwargs.setdefault("sampling", "random")
        if env_kwargs["sampling"] != "random":
            raise ConfigError("the vector env samples episode starts at random only")
        self.template = env_cls(market, **env_kwargs)
        tpl = self.template
        self.single_observation_space = tpl.observation_space
        self.single_action_space = tpl.action_space
        self.observation_space = batch_space(tpl.observation_space, self.num_envs)
        self.action_space = batch_space(tpl.action_space, self.num_envs)
        self.copy = bool(copy)
        self.render_mode = None
        self.spec = None
        self.episode_length = tpl.episode_length
        self._lo, self._hi = tpl.start_rows
        self._state = EnvState(self.num_envs, tpl.n_assets, tpl.obs_dim, tpl.reward_config.window)
        self._final_obs = np.zeros_like(self._state.obs)
        self._status = np.zeros(self.num_envs, dtype=np.int64)
        self._action_shape = (self.num_envs, *tpl.action_space.shape)
        self._started = False
        self._np_random, self._np_random_seed = gym.utils.seeding.np_random(check_seed(seed))
        # every state row is empty (episode over), so this call only compiles / loads the kernel
        kernel = step_batch_nb if parallel else step_batch_serial_nb
        self.parallel = bool(parallel)
        self._step_fn = fast_entry(kernel, *self._step_args(np.zeros(self._action_shape)))

    def _step_args(self, actions: np.ndarray) -> tuple[Any, ...]:
        tpl = self.template
        return (
            actions,
            tpl._params,
            tpl._market,
            self._state.buffers,
            self._final_obs,
            self._status,
            self._draw_starts(),
            self.episode_length,
        )

    def _draw_starts(self) -> np.ndarray:
        return self.np_random.integers(self._lo, self._hi + 1, self.num_envs)

    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every environment; ``options={"start": rows (num_envs,)}`` fixes the starts."""
        start = reset_start(options)
        if seed is not None:
            if not isinstance(seed, int | np.integer):
                raise ConfigError("the vector env takes one integer seed for all environments")
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(check_seed(seed))
        if start is not None:
            starts = np.asarray(start).reshape(-1)
            if starts.size == 1:
                starts = np.full(self.num_envs, starts[0])
            if (
                starts.dtype.kind not in "iu"
                or starts.size != self.num_envs
                or (starts < self._lo).any()
                or (starts > self._hi).any()
            ):
                raise ConfigError(
                    f"start must be {self.num_envs} integer rows in [{self._lo}, {self._hi}], "
                    f"got {start!r}"
                )
        else:
            starts = self._draw_starts()
        tpl = self.template
        s = self._state
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        reset_batch_nb(starts, self.episode_length, tpl._params, tpl._market, s.buffers)
        self._started = True
        obs = s.obs.copy() if self.copy else s.obs
        return obs, {"t": starts.copy()}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every environment with ``actions`` (num_envs, *action_shape)."""
        if not self._started:
            raise ConfigError("call reset() before step()")
        a = np.ascontiguousarray(actions, dtype=np.float64)
        if a.shape != self._action_shape:
            raise ConfigError(f"actions have shape {a.shape}, expected {self._action_shape}")
        if not np.isfinite(a).all():
            rows = np.flatnonzero(~np.isfinite(a).all(axis=1))
            raise ConfigError(f"actions have non-finite values (NaN or inf) for envs {rows[:5]}")
        self._step_fn(*self._step_args(a))
        s = self._state
        if (self._status != OK).any():
            bad = int(np.flatnonzero(self._status != OK)[0])
            if self._status[bad] == DONE:
                raise ConfigError(f"environment {bad} has no running episode: call reset()")
            raise ConfigError(f"invalid action for environment {bad} (status {self._status[bad]})")
        out = s.out
        done = out["done"]
        terminated = done == 1.0
        truncated = done == 2.0
        info: dict[str, Any] = {
            "equity": out["equity"].copy(),
            "fees": out["fees"].copy(),
            "log_return": out["log_return"].copy(),
            "turnover": out["turnover"].copy(),
        }
        ended = terminated | truncated
        if ended.any():
            info["final_obs"] = self._final_obs.copy()
            info["_final_obs"] = ended
            info["final_info"] = {"equity": out["equity"].copy(), "_equity": ended}
            info["_final_info"] = ended
        obs = s.obs.copy() if self.copy else s.obs
        return obs, out["reward"].copy(), terminated, truncated, info


def _sb3_base() -> type:

    return VecEnv


class SB3VecEnv(_sb3_base()):  # type: ignore[misc]
    """stable-baselines3 ``VecEnv`` over a ``PortfolioVectorEnv`` (records episode stats)."""

    def __init__(self, venv: PortfolioVectorEnv) -> None:
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None
        self._ep_return = np.zeros(venv.num_envs)
        self._ep_length = np.zeros(venv.num_envs, dtype=np.int64)
        self._seed: int | None = None

    def reset(self) -> np.ndarray:
        """Reset all environments; returns the observations (num_envs, obs_dim)."""
        obs, _ = self.venv.reset(seed=self._seed)
        self._seed = None
        self._ep_return[:] = 0.0
        self._ep_length[:] = 0
        return obs if self.venv.copy else obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for ``step_wait``."""
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step; infos carry ``terminal_observation``, ``TimeLimit.truncated`` and ``episode``."""
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        self._ep_return += rewards
        self._ep_length += 1
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            final = info["final_obs"]
            for i in np.flatnonzero(dones):
                infos[i] = {
                    "terminal_observation": final[i],
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "episode": {"r": float(self._ep_return[i]), "l": int(self._ep_length[i])},
                    "equity": float(info["equity"][i]),
                }
            self._ep_return[dones] = 0.0
            self._ep_length[dones] = 0
        if not self.venv.copy:
            obs = obs.copy()
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        """Nothing to release."""

    def seed(self, seed: int | None = None) -> list[int | None]:
        """Seed the next reset."""
        self._seed = seed
        return [seed] * self.num_envs

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """Attribute of the template environment, once per selected index."""
        value = getattr(self.venv.template, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set an attribute on the template environment."""
        setattr(self.venv.template, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        """Call a method of the template environment once per selected index."""
        method = getattr(self.venv.template, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        """Batched environments are never wrapped."""
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: Any) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return indices


def make_sb3_vec_env(num_envs: int = 64, market: str | Panel = "dow30", **kwargs: Any) -> SB3VecEnv:
    """A stable-baselines3 ``VecEnv`` of ``num_envs`` batched Portfolio environments."""
    return SB3VecEnv(PortfolioVectorEnv(num_envs, market, **kwargs))
