"""MaskablePPO trainer of the formula miner, in resumable chunks.

The policy reads the token sequence so far with an LSTM features extractor (AlphaGen's
``LSTMSharedNet``, smaller by default) and picks the next token under the grammar's action mask.
``n_envs`` copies of the env share one ``MiningTask`` (one pool, one cache) inside a
``DummyVecEnv``, so each policy forward pass serves ``n_envs`` formulas at once; they step in a
fixed order, which keeps runs deterministic. Training runs in chunks of whole rollouts
(``n_steps * n_envs`` env steps); every chunk
starts a fresh formula, so the full state at a chunk boundary is: policy and optimiser weights,
the step and update counters, the pool (formulas and weights) and the Python, NumPy and torch RNG
states. ``state_dict()`` captures exactly that and ``load_state_dict()`` restores it, which makes a
resumed run end with the same pool as an uninterrupted one (same seed, same thread count).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from quantrl.errors import ConfigError, JobError
from quantrl.mining.env import AlphaMinerEnv, MiningTask
from quantrl.mining.tokens import Vocabulary

__all__ = [
    "LSTMTokenExtractor",
    "PPOConfig",
    "PPOMiner",
    "kind_prior_logits",
    "capture_rng",
    "restore_rng",
    "seed_everything",
]


def seed_everything(seed: int, threads: int = 1) -> None:
    """Seed Python, NumPy and torch, fix torch's thread count and ask for deterministic kernels."""

    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True, warn_only=True)
    set_random_seed(int(seed))


def capture_rng() -> dict[str, Any]:
    """States of the global Python, NumPy and torch random generators."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - SB3 shuffles minibatches with it
        "torch": torch.get_rng_state(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Restore states captured by ``capture_rng`` (JobError when they are malformed)."""
    try:
        python, legacy, torch_state = state["python"], state["numpy"], state["torch"]
        if not isinstance(torch_state, torch.Tensor) or torch_state.dtype != torch.uint8:
            raise TypeError("the torch state must be a uint8 tensor")
        saved = random.getstate(), np.random.get_state()  # noqa: NPY002
        try:
            random.setstate(python)
            np.random.set_state(legacy)  # noqa: NPY002 - SB3 uses the legacy global RNG
            torch.set_rng_state(torch_state)
        except BaseException:
            random.setstate(saved[0])
            np.random.set_state(saved[1])  # noqa: NPY002
            raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise JobError(f"checkpoint random-generator state is unusable: {exc}") from None


def _extractor_base() -> type:

    return BaseFeaturesExtractor


class LSTMTokenExtractor(_extractor_base()):  # type: ignore[misc]
    """Embeds the token ids and runs an LSTM; features = the output at the last written token."""

    def __init__(
        self, observation_space: Any, n_tokens: int, d_model: int = 64, n_layers: int = 2
    ) -> None:
        super().__init__(observation_space, features_dim=d_model)
        self.embed = nn.Embedding(n_tokens + 2, d_model, padding_idx=0)
        self.lstm = nn.LSTM(d_model, d_model, num_layers=n_layers, batch_first=True)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """(batch, max_len + 1) token ids -> (batch, d_model) features."""
        ids = obs.long()
        out, _ = self.lstm(self.embed(ids))
        last = (ids > 0).sum(dim=1).clamp(min=1) - 1
        return out[torch.arange(out.shape[0]), last]


def kind_prior_logits(vocab: Vocabulary) -> torch.Tensor:
    """Initial action-logit biases -log(#tokens of the action's kind).

    The untrained policy then picks each token kind (operator, feature, window, constant, end)
    about equally often, like the random-search sampler, instead of favouring the kind with
    the most tokens (14 constants against 5 features by default). Training moves it freely.
    """
    kinds = [vocab.kind_of(a) for a in range(vocab.n_actions)]
    counts = {k: kinds.count(k) for k in set(kinds)}
    return torch.tensor([-np.log(counts[k]) for k in kinds], dtype=torch.float32)


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters of the MaskablePPO miner (defaults sized for two CPU cores)."""

    n_steps: int = 64
    n_envs: int = 8
    batch_size: int = 128
    # Short budgets: 2 epochs and a 1-layer, 32-wide LSTM keep the update cost per formula well
    # under the cost of evaluating it (4 epochs and 2 x 64 made PPO ~2x slower than random).
    n_epochs: int = 2
    learning_rate: float = 3e-4
    # A strong entropy bonus: against normalised advantages, 0.05 keeps the policy close to the
    # kind-uniform prior and its pools diverse; 0.01 let it settle on a few formula families.
    ent_coef: float = 0.05
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    d_model: int = 32
    n_layers: int = 1
    hidden: int = 32
    reward_scale: float = 10.0
    kind_prior: bool = True
    # Length prior: added to the end token's initial logit, so that the untrained policy closes
    # formulas sooner (e**end_bias times as likely as its kind prior says); training moves it.
    # 0 by default: the untrained policy then samples like the random-search baseline, whose
    # longer formulas repeat less often (a short-formula start spent most of its budget on
    # formulas it had already tried).
    end_bias: float = 0.0
    # One torch thread: the networks are tiny, and a second thread on busy cores makes one LSTM
    # step ~50x slower (spin-waiting); raise it only on an idle machine with larger networks.
    threads: int = 1

    def __post_init__(self) -> None:
        if self.n_envs < 1:
            raise ConfigError(f"n_envs must be >= 1, got {self.n_envs}")
        if self.n_steps < 2 or self.batch_size < 2:
            raise ConfigError(
                f"n_steps and batch_size must be >= 2, got {self.n_steps}, {self.batch_size}"
            )
        if self.batch_size > self.n_steps * self.n_envs:
            raise ConfigError(
                f"batch_size {self.batch_size} exceeds the rollout size n_steps * n_envs = "
                f"{self.n_steps * self.n_envs}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)


class PPOMiner:
    """MaskablePPO over ``AlphaMinerEnv`` with chunked, exactly resumable training."""

    method = "ppo"

    def __init__(
        self,
        task: MiningTask,
        vocab: Vocabulary,
        *,
        config: PPOConfig | None = None,
        seed: int = 0,
    ) -> None:

        self.task = task
        self.vocab = vocab
        self.config = config or PPOConfig()
        self.seed = int(seed)
        cfg = self.config
        seed_everything(self.seed, cfg.threads)

        self.envs = [AlphaMinerEnv(task, vocab=vocab) for _ in range(cfg.n_envs)]
        self.env = self.envs[0]

        def _factory(env: AlphaMinerEnv) -> Callable[[], Any]:
            return lambda: _RewardScale(Monitor(env), cfg.reward_scale, cfg.threads)

        wrapped = DummyVecEnv([_factory(e) for e in self.envs])
        self.model = MaskablePPO(
            "MlpPolicy",
            wrapped,
            n_steps=cfg.n_steps,
            batch_size=cfg.batch_size,
            n_epochs=cfg.n_epochs,
            learning_rate=cfg.learning_rate,
            ent_coef=cfg.ent_coef,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
            clip_range=cfg.clip_range,
            policy_kwargs={
                "features_extractor_class": LSTMTokenExtractor,
                "features_extractor_kwargs": {
                    "n_tokens": vocab.n_actions,
                    "d_model": cfg.d_model,
                    "n_layers": cfg.n_layers,
                },
                "net_arch": {"pi": [cfg.hidden], "vf": [cfg.hidden]},
            },
            seed=self.seed,
            device="cpu",
            verbose=0,
        )

        self.update_seconds = 0.0  # CPU time of the gradient updates (forward and backward)
        train = self.model.train

        def timed_train() -> None:
            start = time.process_time()
            train()
            self.update_seconds += time.process_time() - start

        self.model.train = timed_train  # type: ignore[method-assign]

        if cfg.kind_prior or cfg.end_bias:
            bias = kind_prior_logits(vocab) if cfg.kind_prior else torch.zeros(vocab.n_actions)
            bias[vocab.end_action] += float(cfg.end_bias)
            with torch.no_grad():
                self.model.policy.action_net.bias.copy_(bias)

    @property
    def steps_done(self) -> int:
        """Environment steps (tokens) taken so far."""
        return int(self.model.num_timesteps)

    @property
    def chunk_multiple(self) -> int:
        """Chunks are whole rollouts: a multiple of ``n_steps * n_envs``."""
        return self.config.n_steps * self.config.n_envs

    def run_chunk(
        self,
        steps: int,
        *,
        deadline: float | None = None,
        on_step: Callable[[], None] | None = None,
        until: Callable[[], bool] | None = None,
    ) -> int:
        """Train for ``steps`` env steps (rounded up to whole rollouts), until ``deadline``
        passes or until ``until()`` (checked after every vectorised env step) is true; a stop
        inside a rollout ends the chunk without training on that partial rollout."""

        class _Stop(BaseCallback):
            def _on_step(self) -> bool:
                if on_step is not None:
                    on_step()
                if until is not None and until():
                    return False
                return deadline is None or time.monotonic() < deadline

        n = self.chunk_multiple
        steps = max(n, -(-int(steps) // n) * n)
        before = self.steps_done
        self.model._last_obs = None  # every chunk starts a fresh formula (exact resume)
        self.model.learn(
            total_timesteps=steps,
            callback=_Stop(),
            log_interval=None,
            reset_num_timesteps=False,
        )
        return self.steps_done - before

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly (call at a chunk boundary)."""
        pol = self.model.policy
        return {
            "method": self.method,
            "policy": {k: v.detach().clone() for k, v in pol.state_dict().items()},
            "optimizer": pol.optimizer.state_dict(),
            "num_timesteps": int(self.model.num_timesteps),
            "n_updates": int(self.model._n_updates),
            "rng": capture_rng(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()`` output (the pool is restored by the caller).

        JobError when the state does not fit this miner (other sizes, missing entries).
        """
        if not isinstance(state, dict) or state.get("method") != self.method:
            method = state.get("method") if isinstance(state, dict) else None
            raise ConfigError(f"checkpoint is for {method!r}, not {self.method!r}")
        pol = self.model.policy
        try:
            pol.load_state_dict(state["policy"])
            pol.optimizer.load_state_dict(state["optimizer"])
            num_timesteps, n_updates = int(state["num_timesteps"]), int(state["n_updates"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise JobError(f"checkpoint does not fit this PPO miner: {str(exc)[:300]}") from None
        self.model.num_timesteps = num_timesteps
        self.model._n_updates = n_updates
        restore_rng(state.get("rng"))


def _reward_wrapper_base() -> type:

    return gym.Wrapper


class _RewardScale(_reward_wrapper_base()):  # type: ignore[misc]
    """Multiplies rewards by a constant and forwards ``action_masks``."""

    def __init__(self, env: Any, scale: float, threads: int) -> None:
        super().__init__(env)
        self.scale = float(scale)
        self.threads = int(threads)

    def step(self, action: Any) -> Any:
        """Step the inner env and scale its reward."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated and torch.get_num_threads() != self.threads:
            # numba's OpenMP layer shares torch's thread setting; restore ours after evaluation
            torch.set_num_threads(self.threads)
        return obs, reward * self.scale, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Masks of the wrapped miner env."""
        return self.env.unwrapped.action_masks()
